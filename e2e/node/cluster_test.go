//go:build linux

package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/portico-ingress/portico/e2e/framework"
)

// What deploy/ creates, and the backend the tests route to.
const (
	porticoNamespace = "portico"
	porticoSelector  = "app.kubernetes.io/name=portico"
	porticoClass     = "portico"
	shopNamespace    = "shop"
	shopHost         = "shop.example.test"
	echoPort         = 8080
	// rolloutTimeout bounds a Deployment's Pods becoming Ready (about 4 s
	// each here; a cold image cache or a loaded machine is slower).
	rolloutTimeout = 3 * time.Minute
)

// podClient sends requests to the address in the URL; only test hosts.
var podClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: framework.GuardedDial},
	Timeout:   5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// podGet sends GET http://ip:port/path with Host host.
func podGet(ip string, port int, host, path string) (framework.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(ip, fmt.Sprint(port))+path, nil)
	if err != nil {
		return framework.Response{}, err
	}
	req.Host = host
	return framework.Do(podClient, req)
}

// ctx returns a context bounded for one API call.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ensureShop creates, once, the namespace shop with an echo-server
// Deployment of two Pods, its Service and an Ingress of Portico's class
// for shop.example.test, and waits until the Service has two ready
// endpoints.
func ensureShop(t testing.TB) {
	t.Helper()
	c := env.node.client()
	_, err := c.CoreV1().Namespaces().Get(ctx(t), shopNamespace, metav1.GetOptions{})
	if err == nil {
		return
	}
	require.True(t, apierrors.IsNotFound(err), "namespace %s: %v", shopNamespace, err)
	_, err = c.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shopNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	createEcho(t, shopNamespace, "echo", 2)
	createIngress(t, shopNamespace, "shop", shopHost, "echo")
}

// createEcho creates an echo-server Deployment of n Pods and its Service
// (port 80), and waits until the Service has n ready endpoints.
func createEcho(t testing.TB, namespace, name string, n int32) {
	t.Helper()
	c := env.node.client()
	labels := map[string]string{"app": name}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name:            "echo",
						Image:           echoImage,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"-listen", fmt.Sprintf("0.0.0.0:%d", echoPort), "-service", name},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: echoPort}},
					}},
				},
			},
		},
	}
	_, err := c.AppsV1().Deployments(namespace).Create(ctx(t), deploy, metav1.CreateOptions{})
	require.NoError(t, err, "creating Deployment %s/%s", namespace, name)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	_, err = c.CoreV1().Services(namespace).Create(ctx(t), svc, metav1.CreateOptions{})
	require.NoError(t, err, "creating Service %s/%s", namespace, name)
	framework.EventuallyWithin(t, rolloutTimeout, func() bool {
		return len(readyEndpoints(t, namespace, name)) == int(n)
	}, "Service %s/%s never had %d ready endpoints", namespace, name, n)
}

// createIngress routes host to service:80 through deploy/'s class.
func createIngress(t testing.TB, namespace, name, host, service string) {
	t.Helper()
	ingressOfClass(t, namespace, name, host, service, porticoClass)
}

// ingressOfClass routes host to service:80 through the IngressClass class.
func ingressOfClass(t testing.TB, namespace, name, host, service, class string) {
	t.Helper()
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path: "/", PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: service, Port: networkingv1.ServiceBackendPort{Number: 80},
						}},
					}},
				}},
			}},
		},
	}
	_, err := env.node.client().NetworkingV1().Ingresses(namespace).Create(ctx(t), ing, metav1.CreateOptions{})
	require.NoError(t, err, "creating Ingress %s/%s", namespace, name)
}

// readyEndpoints lists the ready addresses of a Service's EndpointSlices,
// as a load balancer or kube-proxy sees them.
func readyEndpoints(t testing.TB, namespace, service string) []string {
	return listReadyEndpoints(ctx(t), namespace, service)
}

// listReadyEndpoints is readyEndpoints for a goroutine that is not the
// test's (nil on an error: the caller polls again).
func listReadyEndpoints(c context.Context, namespace, service string) []string {
	slices, err := env.node.client().DiscoveryV1().EndpointSlices(namespace).List(c,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil
	}
	var ips []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ips = append(ips, e.Addresses...)
			}
		}
	}
	return ips
}

// deployPortico applies deploy/ as `kubectl apply -f deploy/` would, with
// the image under test in both containers (never pulled: no registry is
// reachable), and returns when it was applied. The admission webhook's
// configuration is sent as a server-side dry run (validated, not stored):
// this cluster has no kube-proxy (one DNAT rule stands in for it for the
// "kubernetes" Service only), so the API server cannot reach the webhook's
// Service, and a stored configuration with failurePolicy Fail would refuse
// every Ingress write of the suite. The controllers
// still serve the webhook and manage its Secret; patching the caBundle of
// a configuration that does not exist must not make them unready.
func deployPortico(t testing.TB) time.Time {
	t.Helper()
	edit := func(obj runtime.Object) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return
		}
		for i := range d.Spec.Template.Spec.Containers {
			d.Spec.Template.Spec.Containers[i].Image = imageName()
			d.Spec.Template.Spec.Containers[i].ImagePullPolicy = corev1.PullNever
		}
	}
	applied := time.Now()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, framework.ApplyDir(c, env.node.client(), filepath.Join(env.repoRoot, "deploy"), edit,
		framework.DryRunIf(framework.IsWebhookConfiguration)))
	return applied
}

// ensurePortico applies deploy/ unless it is there, and waits until the
// Deployment is rolled out: every replica updated, Ready and available.
// It returns the Ready Pods.
func ensurePortico(t testing.TB) []corev1.Pod {
	t.Helper()
	ensureShop(t)
	_, err := env.node.client().AppsV1().Deployments(porticoNamespace).Get(ctx(t), "portico", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		deployPortico(t)
	} else {
		require.NoError(t, err)
	}
	waitRolledOut(t, porticoNamespace, "portico")
	return readyPods(t, porticoNamespace, porticoSelector)
}

// waitRolledOut waits until the Deployment's newest generation is rolled
// out and no old Pod is left.
func waitRolledOut(t testing.TB, namespace, name string) {
	t.Helper()
	c := env.node.client()
	framework.EventuallyWithin(t, rolloutTimeout, func() bool {
		d, err := c.AppsV1().Deployments(namespace).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil || d.Spec.Replicas == nil {
			return false
		}
		want := *d.Spec.Replicas
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.ReadyReplicas != want ||
			st.AvailableReplicas != want || st.Replicas != want {
			return false
		}
		pods, err := c.CoreV1().Pods(namespace).List(ctx(t), metav1.ListOptions{LabelSelector: labelsOf(d)})
		return err == nil && len(pods.Items) == int(want)
	}, "Deployment %s/%s never rolled out", namespace, name)
}

// labelsOf is a Deployment's selector as a label selector string.
func labelsOf(d *appsv1.Deployment) string {
	var parts []string
	for k, v := range d.Spec.Selector.MatchLabels {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// readyPods lists the Ready Pods of a selector that are not being deleted.
func readyPods(t testing.TB, namespace, selector string) []corev1.Pod {
	t.Helper()
	pods, err := env.node.client().CoreV1().Pods(namespace).List(ctx(t), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podReady(&p) {
			ready = append(ready, p)
		}
	}
	return ready
}

// podReady reports the Pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerStatus is the status of the Pod's container name.
func containerStatus(t testing.TB, p *corev1.Pod, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return s
		}
	}
	require.Failf(t, "no container status", "Pod %s has no container %s", p.Name, name)
	return corev1.ContainerStatus{}
}

// getPod reads a Pod again.
func getPod(t testing.TB, namespace, name string) *corev1.Pod {
	t.Helper()
	p, err := env.node.client().CoreV1().Pods(namespace).Get(ctx(t), name, metav1.GetOptions{})
	require.NoError(t, err)
	return p
}

// containerPID is the host pid of a container's first process, from runc's
// state of it.
func containerPID(t testing.TB, p *corev1.Pod, name string) int {
	t.Helper()
	id, ok := strings.CutPrefix(containerStatus(t, p, name).ContainerID, "containerd://")
	require.True(t, ok, "container %s of %s has no containerd id", name, p.Name)
	out, err := exec.Command(runcBinary, "--root", filepath.Join(env.node.dir, "runc", "k8s.io"), "state", id).Output()
	require.NoError(t, err, "runc state %s", id)
	var state struct {
		Pid int `json:"pid"`
	}
	require.NoError(t, json.Unmarshal(out, &state))
	require.Positive(t, state.Pid)
	return state.Pid
}

// metrics reads the controller's metrics on the Pod's status port.
func metrics(t testing.TB, ip string) []framework.Series {
	t.Helper()
	resp, err := podClient.Get("http://" + net.JoinHostPort(ip, "10254") + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	series, err := framework.ParseMetrics(body)
	require.NoError(t, err)
	return series
}

// metricSum adds up the samples of a metric whose labels hold want; the
// metric must be there.
func metricSum(t testing.TB, series []framework.Series, name string, want map[string]string) float64 {
	t.Helper()
	sum, found := framework.SumSeries(series, name, want)
	require.True(t, found, "%s%v not in /metrics", name, want)
	return sum
}

// endpointLoad is a bounded load sent the way a load balancer sends it:
// to the ready endpoints of Portico's Service, round robin, following the
// EndpointSlices as they change.
type endpointLoad struct {
	*framework.Load
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	ips      []string
	next     int
}

// startEndpointLoad starts 4 clients sending GET / for shop.example.test
// every 20 ms each, for at most maxDuration.
func startEndpointLoad(t testing.TB, maxDuration time.Duration) *endpointLoad {
	t.Helper()
	l := &endpointLoad{stop: make(chan struct{}), ips: readyEndpoints(t, porticoNamespace, "portico")}
	require.NotEmpty(t, l.ips, "Portico's Service has no ready endpoint")
	l.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			// Its own context, not the test's: this goroutine must not call
			// t's methods, which panic once the test has ended.
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ips := listReadyEndpoints(c, porticoNamespace, "portico")
			cancel()
			l.mu.Lock()
			l.ips = ips
			l.mu.Unlock()
		}
	})
	l.Load = framework.StartLoad(framework.LoadConfig{
		Clients: 4, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second,
		MaxDuration: maxDuration, MaxRequests: int(maxDuration / (5 * time.Millisecond)),
	}, l.probe)
	// Stopped also when a failed assertion ends the test early.
	t.Cleanup(func() { l.finish() })
	return l
}

// probe sends one request to the next ready endpoint.
func (l *endpointLoad) probe(context.Context) framework.Outcome {
	l.mu.Lock()
	if len(l.ips) == 0 {
		l.mu.Unlock()
		return framework.Outcome{Detail: "no ready endpoint"}
	}
	ip := l.ips[l.next%len(l.ips)]
	l.next++
	l.mu.Unlock()
	return probeShop(ip)
}

// probeShop sends GET / for shop.example.test to one Pod and expects the
// echo server's answer.
func probeShop(ip string) framework.Outcome {
	resp, err := podGet(ip, 80, shopHost, "/")
	if err != nil {
		return framework.Outcome{Detail: ip + ": " + err.Error()}
	}
	if resp.Status != http.StatusOK || resp.Served() != "echo" {
		return framework.Outcome{Connected: true, Detail: fmt.Sprintf("%s: %d from %q", ip, resp.Status, resp.Served())}
	}
	return framework.Outcome{OK: true, Connected: true}
}

// finish stops the load and the EndpointSlice follower, and returns what
// the load saw.
func (l *endpointLoad) finish() framework.Analysis {
	samples := l.Stop()
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	return framework.Analyse(samples)
}
