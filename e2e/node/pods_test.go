//go:build linux

package node

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-ingress/portico/e2e/framework"
	"github.com/portico-ingress/portico/pkg/events"
)

// The tests of this file share deploy/'s Deployment and run in file
// order; each one leaves it rolled out, and ensurePortico makes it when a
// test runs alone.

// TestDeployPodReadyAfterFirstConfig applies deploy/ and watches its Pods
// come up: each is Ready only once its nginx serves the Ingresses there
// already are, so the first request after Ready is routed. A Deployment an
// earlier test made is deleted first, so the Pods start from nothing.
func TestDeployPodReadyAfterFirstConfig(t *testing.T) {
	requireEnv(t)
	ensureShop(t)
	c := env.node.client()
	err := c.AppsV1().Deployments(porticoNamespace).Delete(ctx(t), "portico", metav1.DeleteOptions{})
	if err == nil {
		framework.EventuallyWithin(t, rolloutTimeout, func() bool {
			pods, err := c.CoreV1().Pods(porticoNamespace).List(ctx(t), metav1.ListOptions{LabelSelector: porticoSelector})
			return err == nil && len(pods.Items) == 0
		}, "the earlier Deployment's Pods never went away")
	} else {
		require.True(t, apierrors.IsNotFound(err), "deleting the Deployment: %v", err)
	}
	applied := deployPortico(t)

	// Poll every 50 ms; the moment a Pod is seen Ready, ask it.
	checked := map[string]time.Duration{}
	deadline := time.Now().Add(rolloutTimeout)
	for len(checked) < 2 && time.Now().Before(deadline) {
		pods, err := c.CoreV1().Pods(porticoNamespace).List(ctx(t), metav1.ListOptions{LabelSelector: porticoSelector})
		require.NoError(t, err)
		for _, p := range pods.Items {
			if _, done := checked[p.Name]; done || !podReady(&p) {
				continue
			}
			seen := time.Since(applied)
			resp, err := podGet(p.Status.PodIP, 80, shopHost, "/")
			require.NoError(t, err, "Pod %s is Ready but does not answer", p.Name)
			require.Equal(t, http.StatusOK, resp.Status, "Pod %s is Ready but does not route yet: %s", p.Name, resp)
			require.Equal(t, "echo", resp.Served(), "Pod %s is Ready but does not route yet: %s", p.Name, resp)
			checked[p.Name] = seen
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Len(t, checked, 2, "deploy/'s two Pods never became Ready")
	for name, d := range checked {
		t.Logf("timing: deploy/ applied → Pod %s Ready and routing: %s", name, d.Round(time.Millisecond))
	}
	for _, p := range readyPods(t, porticoNamespace, porticoSelector) {
		for _, s := range p.Status.ContainerStatuses {
			assert.Zero(t, s.RestartCount, "container %s of %s restarted while starting", s.Name, p.Name)
		}
	}
}

// TestIngressChangeServedAcrossContainers changes an Ingress and waits for
// both Pods to serve it: the controller container wrote nginx.conf into
// the shared emptyDir and reloaded the nginx of the other container, which
// kept running (no container restarted).
func TestIngressChangeServedAcrossContainers(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	require.Len(t, pods, 2)
	reloads := map[string]float64{}
	for _, p := range pods {
		reloads[p.Name] = metricSum(t, metrics(t, p.Status.PodIP), "portico_reloads_total", map[string]string{"result": "success"})
	}

	c := env.node.client()
	ing, err := c.NetworkingV1().Ingresses(shopNamespace).Get(ctx(t), "shop", metav1.GetOptions{})
	require.NoError(t, err)
	const newHost = "new.shop.example.test"
	rule := ing.Spec.Rules[0]
	rule.Host = newHost
	ing.Spec.Rules = append(ing.Spec.Rules, rule)
	changed := time.Now()
	_, err = c.NetworkingV1().Ingresses(shopNamespace).Update(ctx(t), ing, metav1.UpdateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { removeRule(t, newHost) })

	for _, p := range pods {
		framework.EventuallyWithin(t, time.Minute, func() bool {
			resp, err := podGet(p.Status.PodIP, 80, newHost, "/")
			return err == nil && resp.Status == http.StatusOK && resp.Served() == "echo"
		}, "Pod %s never served %s", p.Name, newHost)
		t.Logf("timing: Ingress changed → served by Pod %s: %s", p.Name, time.Since(changed).Round(time.Millisecond))
	}
	for _, p := range pods {
		// The reload is counted once the controller has verified it, which
		// may be a moment after nginx serves the change.
		framework.EventuallyWithin(t, 30*time.Second, func() bool {
			return metricSum(t, metrics(t, p.Status.PodIP), "portico_reloads_total", map[string]string{"result": "success"}) > reloads[p.Name]
		}, "Pod %s served the change but never counted a successful reload", p.Name)
		// ingress-nginx's series, for its dashboards, name this Pod as its
		// controller does (POD_NAME and POD_NAMESPACE from the Downward API).
		success := metricSum(t, metrics(t, p.Status.PodIP), "nginx_ingress_controller_success", map[string]string{
			"controller_pod": p.Name, "controller_namespace": porticoNamespace, "controller_class": "portico.dev/ingress-controller",
		})
		assert.GreaterOrEqual(t, success, 2.0, "Pod %s: nginx_ingress_controller_success", p.Name)
		now := getPod(t, p.Namespace, p.Name)
		for _, s := range now.Status.ContainerStatuses {
			assert.Zero(t, s.RestartCount, "container %s of %s restarted", s.Name, p.Name)
		}
		// Each reload is an Event on the Pod itself, found through its UID.
		framework.EventuallyWithin(t, 30*time.Second, func() bool {
			list, err := c.CoreV1().Events(p.Namespace).List(ctx(t), metav1.ListOptions{
				FieldSelector: "involvedObject.uid=" + string(p.UID) + ",reason=" + events.ReasonReload,
			})
			return err == nil && len(list.Items) > 0 && list.Items[0].InvolvedObject.Kind == "Pod"
		}, "no %s Event on Pod %s", events.ReasonReload, p.Name)
	}
}

// removeRule takes the rule for host out of the shop Ingress again.
func removeRule(t testing.TB, host string) {
	c := env.node.client()
	ing, err := c.NetworkingV1().Ingresses(shopNamespace).Get(ctx(t), "shop", metav1.GetOptions{})
	if err != nil {
		t.Errorf("reading Ingress shop: %v", err)
		return
	}
	var rules []networkingv1.IngressRule
	for _, r := range ing.Spec.Rules {
		if r.Host != host {
			rules = append(rules, r)
		}
	}
	ing.Spec.Rules = rules
	if _, err := c.NetworkingV1().Ingresses(shopNamespace).Update(ctx(t), ing, metav1.UpdateOptions{}); err != nil {
		t.Errorf("restoring Ingress shop: %v", err)
	}
}

// TestNginxContainerKilled kills the nginx container's process: the kubelet
// restarts the container, and the controller, which kept running, gives
// the new nginx its configuration and the balancer its endpoints, so the
// Pod routes again without anything else changing.
func TestNginxContainerKilled(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	p := &pods[0]
	before := containerStatus(t, p, "nginx").RestartCount
	controllerBefore := containerStatus(t, p, "controller").RestartCount

	killed := time.Now()
	require.NoError(t, syscall.Kill(containerPID(t, p, "nginx"), syscall.SIGKILL))
	framework.EventuallyWithin(t, rolloutTimeout, func() bool {
		now := getPod(t, p.Namespace, p.Name)
		return containerStatus(t, now, "nginx").RestartCount > before && podReady(now)
	}, "the nginx container of %s was not restarted and Ready", p.Name)
	readyAgain := time.Since(killed)
	framework.EventuallyWithin(t, time.Minute, func() bool {
		resp, err := podGet(p.Status.PodIP, 80, shopHost, "/")
		return err == nil && resp.Status == http.StatusOK && resp.Served() == "echo"
	}, "Pod %s does not route after its nginx container restarted", p.Name)
	t.Logf("timing: nginx container killed → restarted and Pod Ready: %s; routing: %s", readyAgain.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	// Both echo endpoints answer: the balancer has its data again.
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		resp, err := podGet(p.Status.PodIP, 80, shopHost, "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp)
		seen[resp.Endpoint()] = true
	}
	assert.Len(t, seen, 2, "after the restart, requests reached only %v", seen)
	assert.Equal(t, controllerBefore, containerStatus(t, getPod(t, p.Namespace, p.Name), "controller").RestartCount,
		"the controller container restarted too")
}

// TestControllerContainerKilled kills the controller container's process
// under a load sent straight to the Pod: nginx, in the other container,
// keeps serving while the kubelet restarts the controller, which then
// takes over the running nginx.
func TestControllerContainerKilled(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	p := &pods[0]
	before := containerStatus(t, p, "controller").RestartCount
	nginxBefore := containerStatus(t, p, "nginx").RestartCount

	load := framework.StartLoad(framework.LoadConfig{Clients: 2, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second, MaxDuration: 2 * time.Minute, MaxRequests: 20000},
		func(context.Context) framework.Outcome { return probeShop(p.Status.PodIP) })
	t.Cleanup(func() { load.Stop() })
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	require.NoError(t, syscall.Kill(containerPID(t, p, "controller"), syscall.SIGKILL))
	framework.EventuallyWithin(t, rolloutTimeout, func() bool {
		now := getPod(t, p.Namespace, p.Name)
		return containerStatus(t, now, "controller").RestartCount > before && podReady(now)
	}, "the controller container of %s was not restarted and Ready", p.Name)
	t.Logf("timing: controller container killed → restarted and Pod Ready: %s", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Second)
	a := framework.Analyse(load.Stop())
	assert.Zero(t, a.Failed, "%d of %d requests to %s failed while its controller restarted: %s", a.Failed, a.Requests, p.Name, a.DetailSummary())
	t.Logf("load: %d requests straight to the Pod, %d failed", a.Requests, a.Failed)
	assert.Equal(t, nginxBefore, containerStatus(t, getPod(t, p.Namespace, p.Name), "nginx").RestartCount,
		"the nginx container restarted too")
}

// TestRollingUpdateUnderLoad rolls the Deployment out again while a load
// follows the Service's ready endpoints as a load balancer would: new Pods
// take traffic only once they route, old ones drain in preStop, and no
// request fails.
func TestRollingUpdateUnderLoad(t *testing.T) {
	requireEnv(t)
	ensurePortico(t)
	c := env.node.client()
	load := startEndpointLoad(t, 3*time.Minute)
	time.Sleep(time.Second)
	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"e2e.portico.dev/restarted-at":"` + time.Now().Format(time.RFC3339Nano) + `"}}}}}`)
	started := time.Now()
	_, err := c.AppsV1().Deployments(porticoNamespace).Patch(ctx(t), "portico", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	require.NoError(t, err)
	waitRolledOut(t, porticoNamespace, "portico")
	rolled := time.Since(started)
	// The old Pods' preStop waits 5 s before nginx quits; the load goes on
	// until they are gone.
	framework.EventuallyWithin(t, time.Minute, func() bool {
		pods, err := c.CoreV1().Pods(porticoNamespace).List(ctx(t), metav1.ListOptions{LabelSelector: porticoSelector})
		return err == nil && len(pods.Items) == 2
	}, "old Pods never went away")
	time.Sleep(time.Second)
	a := load.finish()
	t.Logf("timing: rolling update of 2 Pods: %s; load: %d requests, %d failed", rolled.Round(time.Millisecond), a.Requests, a.Failed)
	assert.Zero(t, a.Failed, "%d of %d requests failed during the rolling update: %s", a.Failed, a.Requests, a.DetailSummary())
}

// TestPodDeletionDrains deletes one Pod, as a node drain or a scale-down
// does, under a load that follows the Service's ready endpoints: the Pod
// leaves the endpoints before its nginx stops, and no request fails.
func TestPodDeletionDrains(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	c := env.node.client()
	load := startEndpointLoad(t, 2*time.Minute)
	time.Sleep(time.Second)
	victim := pods[0]
	deleted := time.Now()
	require.NoError(t, c.CoreV1().Pods(porticoNamespace).Delete(ctx(t), victim.Name, metav1.DeleteOptions{}))
	framework.EventuallyWithin(t, rolloutTimeout, func() bool {
		_, err := c.CoreV1().Pods(porticoNamespace).Get(ctx(t), victim.Name, metav1.GetOptions{})
		return err != nil
	}, "Pod %s was never removed", victim.Name)
	gone := time.Since(deleted)
	waitRolledOut(t, porticoNamespace, "portico")
	time.Sleep(time.Second)
	a := load.finish()
	t.Logf("timing: Pod deleted → gone: %s (preStop waits 5 s); load: %d requests, %d failed", gone.Round(time.Millisecond), a.Requests, a.Failed)
	assert.Zero(t, a.Failed, "%d of %d requests failed while %s drained: %s", a.Failed, a.Requests, victim.Name, a.DetailSummary())
	for _, p := range readyPods(t, porticoNamespace, porticoSelector) {
		assert.NotEqual(t, victim.Name, p.Name)
	}
}

// TestPodContainersUnprivileged reads, on the host, what the kernel says of
// the first process of each container of a running Pod (nginx's master, and
// the controller): uid and gid 101 (the image's user), no_new_privs, no
// capability in any set, not even the bounding set, and a read-only root
// filesystem. nginx still serves on port 80: the Pod's network namespace
// lets any user bind it (the sysctl deploy/ sets).
func TestPodContainersUnprivileged(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	p := &pods[0]
	for _, name := range []string{"nginx", "controller"} {
		pid := containerPID(t, p, name)
		status := procStatus(t, pid)
		assert.Equal(t, "101\t101\t101\t101", status["Uid"], "%s: uids", name)
		assert.Equal(t, "101\t101\t101\t101", status["Gid"], "%s: gids", name)
		assert.Equal(t, "1", status["NoNewPrivs"], "%s: no_new_privs", name)
		for _, set := range []string{"CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"} {
			assert.Zero(t, capSet(t, status[set]), "%s: %s", name, set)
		}
		assert.True(t, rootReadOnly(t, pid), "%s: the root filesystem is writable", name)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", containerPID(t, p, "nginx")))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(cmdline), "nginx: master process"), "the nginx container's first process is %q", cmdline)
	resp, err := podGet(p.Status.PodIP, 80, shopHost, "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.Status, "%s", resp)
}

// procStatus reads /proc/PID/status as name → value.
func procStatus(t testing.TB, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	fields := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// capSet parses a capability mask of /proc/PID/status.
func capSet(t testing.TB, hex string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	require.NoError(t, err, "capability mask %q", hex)
	return v
}

// rootReadOnly reports whether the process's / is mounted read-only.
func rootReadOnly(t testing.TB, pid int) bool {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return slices.Contains(strings.Split(f[5], ","), "ro")
		}
	}
	t.Fatalf("no / in /proc/%d/mountinfo", pid)
	return false
}
