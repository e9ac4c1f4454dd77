package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// DefaultSelector matches the controller Pods of deploy/deployment.yaml.
const DefaultSelector = "app.kubernetes.io/name=portico"

// DefaultNamespace is where deploy/ puts the controller.
const DefaultNamespace = "portico"

// Forward says which controller Pod to reach and on which port.
type Forward struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace holds the controller's Pods.
	Namespace string
	// Pod is the Pod to reach; "" picks one matching Selector.
	Pod string
	// Selector finds the controller's Pods when Pod is "".
	Selector string
	// Port is the debug server's port inside the Pod (its --debug-address).
	Port int
	// ErrOut receives the port-forward's own messages; nil discards them.
	ErrOut io.Writer
}

// Tunnel is an open port-forward.
type Tunnel struct {
	// Address is the local "127.0.0.1:PORT" that reaches the Pod's port.
	Address string
	// Pod is the Pod reached.
	Pod  string
	stop chan struct{}
	done chan error
}

// Close ends the port-forward and waits for it to stop.
func (t *Tunnel) Close() {
	close(t.stop)
	<-t.done
}

// PortForward opens a port-forward to f.Port of a controller Pod, as
// kubectl port-forward does. The API server's kubelet connects to
// 127.0.0.1:PORT inside the Pod's network namespace, which is why the
// debug server can stay on loopback: the Pod's IP (what pods/proxy would
// reach) does not answer it. It needs get on pods (list too without
// f.Pod) and create on pods/portforward in f.Namespace.
func PortForward(ctx context.Context, f Forward) (*Tunnel, error) {
	client, err := kubernetes.NewForConfig(f.Config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	pod, err := pickPod(ctx, client, f)
	if err != nil {
		return nil, err
	}
	rt, upgrader, err := spdy.RoundTripperFor(f.Config)
	if err != nil {
		return nil, fmt.Errorf("port-forward transport: %w", err)
	}
	url := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(f.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, url)
	errOut := f.ErrOut
	if errOut == nil {
		errOut = io.Discard
	}
	t := &Tunnel{Pod: pod, stop: make(chan struct{}), done: make(chan error, 1)}
	ready := make(chan struct{})
	// Local port 0: the kernel picks a free one, so runs never collide.
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(f.Port)}, t.stop, ready, io.Discard, errOut)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", f.Namespace, pod, err)
	}
	go func() { t.done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-t.done:
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w\n"+
			"(it needs the RBAC verb create on pods/portforward in namespace %s, which controller operators have and tenants do not)",
			f.Namespace, pod, f.Port, err, f.Namespace)
	case <-ctx.Done():
		close(t.stop)
		<-t.done
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", f.Namespace, pod, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		t.Close()
		return nil, fmt.Errorf("port-forward to pod %s/%s: no local port: %w", f.Namespace, pod, err)
	}
	t.Address = "127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
	return t, nil
}

// pickPod returns f.Pod, or the first by name of the running and ready
// Pods f.Selector matches (running but not ready ones when none is ready:
// a controller that is not ready is the one worth inspecting).
func pickPod(ctx context.Context, client kubernetes.Interface, f Forward) (string, error) {
	if f.Pod != "" {
		return f.Pod, nil
	}
	list, err := client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: f.Selector})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return "", fmt.Errorf("listing the controller's Pods in namespace %s: %w (name one with --pod, or get the RBAC verb list on pods there)", f.Namespace, err)
		}
		return "", fmt.Errorf("listing the controller's Pods in namespace %s: %w", f.Namespace, err)
	}
	var ready, running []string
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		running = append(running, p.Name)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, p.Name)
			}
		}
	}
	for _, names := range [][]string{ready, running} {
		if len(names) > 0 {
			return slices.Min(names), nil
		}
	}
	return "", errors.New("no running Pod in namespace " + f.Namespace + " matches " + strconv.Quote(f.Selector) +
		": is the controller deployed there? (--namespace, --selector, or --pod NAME)")
}
