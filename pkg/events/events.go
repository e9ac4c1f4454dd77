// Package events turns reload events and model findings into Kubernetes
// Events: RELOAD on the controller's Pod, and a Warning on each object a
// finding is about, so `kubectl describe ingress` says what is wrong.
package events

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
)

// ReasonReload is the Event reason of every reload attempt.
const ReasonReload = "RELOAD"

// ReasonNginxRestarted is the reason of the Warning on the Pod when the
// nginx master the controller runs (--start-nginx) exited unexpectedly and
// was started again.
const ReasonNginxRestarted = "NginxRestarted"

// maxMessage keeps Event messages under the API's 1 KiB limit.
const maxMessage = 1000

// PodRef names the controller's Pod (from the downward API); zero when
// running outside a Pod, and then reload Events are not sent.
type PodRef struct {
	// Namespace is POD_NAMESPACE.
	Namespace string
	// Name is POD_NAME.
	Name string
	// UID is POD_UID.
	UID string
}

// Recorder sends Events through a client-go EventRecorder, which also
// aggregates repeats of the same event.
type Recorder struct {
	rec    record.EventRecorder
	pod    *corev1.ObjectReference
	log    *slog.Logger
	repeat time.Duration
	now    func() time.Time

	mu   sync.Mutex
	sent map[model.Finding]time.Time
	// failure is the last failed reload sent (with the retries folded into
	// it since), failureSent when; zero after a success or recovery.
	failure     reload.Event
	failureSent time.Time
}

// New returns a Recorder. repeat is how often a finding that persists is
// sent again: Events expire (an hour by default), and a problem that is
// still there should stay visible in kubectl describe.
func New(rec record.EventRecorder, pod PodRef, repeat time.Duration, log *slog.Logger) *Recorder {
	r := &Recorder{rec: rec, log: log, repeat: repeat, now: time.Now, sent: map[model.Finding]time.Time{}}
	if pod.Name != "" && pod.Namespace != "" {
		r.pod = &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: types.UID(pod.UID)}
	} else {
		log.Info("POD_NAME and POD_NAMESPACE are not set: reload events go to logs and metrics only")
	}
	return r
}

// Record implements reload.Recorder: an Event on the Pod per reload outcome.
// Retries that fail the same way as the last failure sent
// (reload.Event.SameFailure) send nothing until the repeat interval has
// passed; then one Event says how many attempts failed since when. Each
// retry's message differs (its generation, its duration), so client-go's
// aggregation would not fold them, and a retry every few seconds would
// bury every other Event on the Pod.
func (r *Recorder) Record(ev reload.Event) {
	if r.pod == nil {
		return
	}
	kind := corev1.EventTypeNormal
	if ev.Result.Failed() {
		kind = corev1.EventTypeWarning
		now := r.now()
		r.mu.Lock()
		repeat := r.failure.SameFailure(ev)
		if repeat {
			ev = r.failure.Fold(ev)
		}
		r.failure = ev
		if repeat && now.Sub(r.failureSent) < r.repeat {
			r.mu.Unlock()
			return
		}
		r.failureSent = now
		r.mu.Unlock()
	} else {
		r.mu.Lock()
		r.failure, r.failureSent = reload.Event{}, time.Time{}
		r.mu.Unlock()
	}
	r.rec.Event(r.pod, kind, ReasonReload, excerpt.Within(ev.Summary(), maxMessage))
}

// NginxRestarted sends a Warning on the Pod: the nginx master pid exited
// unexpectedly (status, after uptime) and is started again after wait;
// count is the number of such exits so far.
func (r *Recorder) NginxRestarted(pid int, status string, uptime, wait time.Duration, count uint64) {
	if r.pod == nil {
		return
	}
	msg := fmt.Sprintf("nginx master %d exited unexpectedly (%s) after %s up; starting a new one", pid, status, uptime.Round(time.Millisecond))
	if wait > 0 {
		msg += fmt.Sprintf(" in %s (it keeps exiting soon after it starts)", wait)
	} else {
		msg += " at once"
	}
	msg += fmt.Sprintf(" (restart %d)", count)
	r.rec.Event(r.pod, corev1.EventTypeWarning, ReasonNginxRestarted, excerpt.Within(msg, maxMessage))
}

// Findings implements controller.FindingRecorder: a Warning Event for each
// new finding, and again for one that persists past the repeat interval.
func (r *Recorder) Findings(findings []model.Finding) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	current := make(map[model.Finding]time.Time, len(findings))
	for _, f := range findings {
		last, seen := r.sent[f]
		if seen && now.Sub(last) < r.repeat {
			current[f] = last
			continue
		}
		current[f] = now
		ref := objectReference(f.Object)
		if ref == nil {
			continue
		}
		r.rec.Event(ref, corev1.EventTypeWarning, f.Reason, excerpt.Within(f.Message, maxMessage))
	}
	r.sent = current
}

// objectReference maps a finding's object to an Event target; flags have no object.
func objectReference(o model.ObjectRef) *corev1.ObjectReference {
	ref := &corev1.ObjectReference{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: types.UID(o.UID)}
	switch o.Kind {
	case "Ingress":
		ref.APIVersion = networkingv1.SchemeGroupVersion.String()
	case "Service", "Secret", "ConfigMap":
		ref.APIVersion = "v1"
	default:
		return nil
	}
	return ref
}
