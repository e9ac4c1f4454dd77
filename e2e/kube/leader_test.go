//go:build linux

package kube

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Short election timings, so a takeover happens within seconds.
const (
	electionLease = 4 * time.Second
	electionRenew = 3 * time.Second
	electionRetry = 500 * time.Millisecond
)

// leaderMessage is what the controller logs when it becomes leader.
const leaderMessage = "became leader"

// lease reads the Lease portico/name ("" holder when none is recorded).
func lease(namespace, name string) (*coordinationv1.Lease, error) {
	ctx, cancel := apiContext()
	defer cancel()
	return env.client.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
}

func leaseHolder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitLeaseHolder waits until the Lease's holder is one of want and
// returns it.
func waitLeaseHolder(t testing.TB, name string, timeout time.Duration, want ...string) string {
	t.Helper()
	var holder string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		l, err := lease(deployNamespace, name)
		require.NoError(ct, err)
		holder = leaseHolder(l)
		assert.Contains(ct, want, holder, "holder of Lease %s/%s", deployNamespace, name)
	}, timeout, framework.PollInterval, "Lease %s/%s: holder %q, want one of %v", deployNamespace, name, holder, want)
	return holder
}

// TestLeaderElectionTakeover: two replicas with the same --election-id both
// serve traffic; exactly one holds the Lease and writes Ingress status
// (each publishes its own address, so the status tells who wrote it). When
// the leader dies (SIGKILL: no release of the Lease) the other one takes
// the Lease over once it expires and rewrites the status with its address.
func TestLeaderElectionTakeover(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)

	electionID := "portico-e2e-leader-" + randomHex(4)
	suffix := randomHex(3)
	replicas := []struct {
		pod, addr string
		c         *controller
	}{
		{pod: "portico-a-" + suffix, addr: "203.0.113.1"},
		{pod: "portico-b-" + suffix, addr: "203.0.113.2"},
	}
	for i := range replicas {
		r := &replicas[i]
		r.c = startControllerWith(t, controllerOptions{
			Namespace:  ns,
			ElectionID: electionID,
			PodName:    r.pod,
			Args: []string{
				"--election-lease-duration", electionLease.String(),
				"--election-renew-deadline", electionRenew.String(),
				"--election-retry-period", electionRetry.String(),
				"--publish-status-address", r.addr,
			},
		})
	}
	const host = "leader.example"
	createIngress(t, ingress(ns, "web", host, route{path: "/", service: "web"}))

	// Both serve traffic.
	for _, r := range replicas {
		r.c.WaitServed(t, host, "/", "web")
	}

	// Exactly one leads: the Lease names it, its address is in the status,
	// and only it logged that it became leader.
	holder := waitLeaseHolder(t, electionID, framework.RouteTimeout, replicas[0].pod, replicas[1].pod)
	leader, follower := replicas[0], replicas[1]
	if holder == replicas[1].pod {
		leader, follower = replicas[1], replicas[0]
	}
	t.Logf("leader %s (%s), follower %s (%s)", leader.pod, leader.addr, follower.pod, follower.addr)
	waitLoadBalancerStatus(t, ns, "web", framework.RouteTimeout, leader.addr)
	framework.Eventually(t, func() bool { return leader.c.Logs.Count(leaderMessage) == 1 }, "the leader logs %q once", leaderMessage)
	// Give the follower a few retry periods to misbehave: it must neither
	// log leadership nor write its address.
	time.Sleep(4 * electionRetry)
	assert.Zero(t, follower.c.Logs.Count(leaderMessage), "the follower must not become leader while the leader renews")
	l, err := lease(deployNamespace, electionID)
	require.NoError(t, err)
	assert.Equal(t, leader.pod, leaseHolder(l), "the Lease stays with the leader")
	require.NotNil(t, l.Spec.LeaseDurationSeconds)
	assert.Equal(t, int32(electionLease/time.Second), *l.Spec.LeaseDurationSeconds, "--election-lease-duration is the Lease's duration")
	assert.Equal(t, leader.addr, describeLoadBalancer(loadBalancerStatus(t, ns, "web")))

	// The leader crashes.
	killed := time.Now()
	leader.c.Kill(t)
	bound := electionLease + electionRenew + 10*time.Second
	waitLeaseHolder(t, electionID, bound, follower.pod)
	takeover := time.Since(killed)
	waitLoadBalancerStatus(t, ns, "web", framework.RouteTimeout, follower.addr)
	rewritten := time.Since(killed)
	t.Logf("leader killed until the follower held the Lease: %s (lease duration %s, retry period %s); until the status had the new leader's address: %s",
		takeover.Round(time.Millisecond), electionLease, electionRetry, rewritten.Round(time.Millisecond))
	assert.Equal(t, 1, follower.c.Logs.Count(leaderMessage), "the follower logged that it became leader")
	l, err = lease(deployNamespace, electionID)
	require.NoError(t, err)
	require.NotNil(t, l.Spec.LeaseTransitions)
	assert.GreaterOrEqual(t, *l.Spec.LeaseTransitions, int32(1), "the takeover counts as a Lease transition")

	// The survivor keeps serving.
	follower.c.WaitServed(t, host, "/", "web")
	r := follower.c.Get(t, host, "/")
	assert.Equal(t, "web", r.Served(), "%s", r)
}
