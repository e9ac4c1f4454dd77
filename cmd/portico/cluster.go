package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/portico-ingress/portico/pkg/compat"
	"github.com/portico-ingress/portico/pkg/events"
	"github.com/portico-ingress/portico/pkg/ingressstatus"
)

// clusterFlags are the flags that only matter when objects come from the API server.
type clusterFlags struct {
	kubeconfig             string
	watchNamespace         string
	publishService         string
	publishStatusAddresses []string
	updateStatusOnShutdown bool
	electionID             string
	leaseDuration          time.Duration
	renewDeadline          time.Duration
	retryPeriod            time.Duration
}

// podIdentity reads the downward API variables the Deployment sets.
func podIdentity() events.PodRef {
	return events.PodRef{
		Namespace: os.Getenv("POD_NAMESPACE"),
		Name:      os.Getenv("POD_NAME"),
		UID:       os.Getenv("POD_UID"),
	}
}

// newEventRecorder starts a broadcaster that writes Events through the API;
// the returned stop flushes and shuts it down.
func newEventRecorder(client kubernetes.Interface, log *slog.Logger) (record.EventRecorder, func()) {
	// client-go's default spam filter allows 25 Events per object and then
	// one per 5 minutes: after 25 reloads the Pod's RELOAD Events would stop.
	// A larger burst and one per second keep every reload visible while the
	// correlator still aggregates repeats.
	b := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{BurstSize: 200, QPS: 1}))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "portico-controller"})
	return rec, func() {
		// Shutdown drops queued events; give in-flight ones a moment first.
		time.Sleep(200 * time.Millisecond)
		b.Shutdown()
		log.Debug("event broadcaster stopped")
	}
}

// runLeaderElection campaigns for the Lease and runs the status updater
// while this replica leads. Every replica serves traffic; only the leader
// writes Ingress status, so replicas never fight over it.
func runLeaderElection(ctx context.Context, client kubernetes.Interface, f clusterFlags, pod events.PodRef,
	updater *ingressstatus.Updater, leader *compat.Leadership, log *slog.Logger) error {
	identity := pod.Name
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("leader election identity: %w", err)
		}
		identity = host
	}
	namespace := pod.Namespace
	if namespace == "" {
		namespace = strings.TrimSpace(f.watchNamespace)
	}
	if namespace == "" {
		namespace = "default"
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(namespace, f.electionID),
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	// The elector gets its own context: at shutdown the status must be
	// cleared while this replica still holds the Lease, and only then is
	// the Lease released (ReleaseOnCancel) for the next leader.
	electorCtx, stopElector := context.WithCancel(context.Background())
	defer stopElector()
	var leading atomic.Bool
	var term sync.WaitGroup
	cfg := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   f.leaseDuration,
		RenewDeadline:   f.renewDeadline,
		RetryPeriod:     f.retryPeriod,
		ReleaseOnCancel: true,
		Name:            f.electionID,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				term.Add(1)
				defer term.Done()
				leading.Store(true)
				leader.Set(f.electionID, true)
				log.Info("became leader; writing Ingress status", "lease", namespace+"/"+f.electionID, "identity", identity)
				updater.Run(leadCtx)
			},
			OnStoppedLeading: func() {
				leading.Store(false)
				leader.Set(f.electionID, false)
				log.Info("stopped leading", "identity", identity)
			},
			OnNewLeader: func(current string) {
				if current != identity {
					log.Info("leader elected", "leader", current)
				}
			},
		},
	}
	elector, err := leaderelection.NewLeaderElector(cfg)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	// A follower reports 0 from the start, so alerts on "no leader"
	// (sum of the status is 0) see every replica.
	leader.Set(f.electionID, false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Run returns when the lease is lost; campaign again until shutdown.
		for electorCtx.Err() == nil {
			elector.Run(electorCtx)
		}
	}()
	<-ctx.Done()
	if f.updateStatusOnShutdown && leading.Load() {
		clearCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		updater.Clear(clearCtx)
		cancel()
		log.Info("cleared Ingress status before releasing the Lease")
	}
	stopElector()
	<-done
	term.Wait()
	return nil
}

func metaFor(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
