// Package admission is Portico's validating admission webhook: it answers
// the API server's AdmissionReviews for Ingresses and the options
// ConfigMap with the verdict of Portico's pure model (pkg/model's Review,
// judged by pkg/verdict as portico check judges).
//
// It never runs nginx, never writes a file and never renders nginx.conf:
// ingress-nginx's webhook ran `nginx -t` on the object under review, which
// made it the door of CVE-2025-1974. source_test.go keeps it so.
package admission

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/verdict"
)

// Bounds of an answer: the API server shows each warning on kubectl's
// stderr, and a long list helps no one.
const (
	maxWarnings         = 20
	maxWarningLength    = 512
	maxMessageLength    = 4096
	notReadyMessage     = "portico admission: the controller has not read the cluster yet; try again shortly"
	allowedConflictNote = "admitted because --admission-allow-conflicts is set"
)

// Options are the webhook's choices besides the model's.
type Options struct {
	// AllowConflicts admits an Ingress with a host or path another Ingress
	// already owns, with a warning (ingress-nginx admitted those), instead
	// of refusing it.
	AllowConflicts bool
	// Namespace, when set, is the only namespace whose Ingresses are
	// judged (the controller's --watch-namespace): the snapshot holds no
	// other, and the controller serves no other.
	Namespace string
	// Now returns the time certificates are checked against; time.Now
	// when nil.
	Now func() time.Time
}

// Decision is the answer to one review.
type Decision struct {
	// Allowed says the object may be written.
	Allowed bool
	// Message says why it is refused ("" when allowed).
	Message string
	// Warnings are shown by kubectl when the object is allowed.
	Warnings []string
	// Report is the verdict's detail for an Ingress, nil for other kinds.
	Report *verdict.Report
}

// Reviewer decides on objects under review against the controller's
// current snapshot. It keeps the snapshot the controller hands it (and the
// index made from it), nothing of what it reviews.
type Reviewer struct {
	modelOpts model.Options
	opts      Options
	lister    verdict.Lister

	snap atomic.Pointer[snapshot.Snapshot]
	// prepared is the Review of the latest snapshot a preparer finished
	// (model.NewReview, ~8 ms at 10,000 Ingresses): a review never waits
	// for the next one, it judges against this one, one sync behind at
	// most while the next is made. preparing says a preparer runs; ready
	// is closed when the first is there.
	mu        sync.Mutex
	preparing bool
	ready     chan struct{}
	prepared  atomic.Pointer[prepared]
	// live is what the controller's live config serves (SetLive).
	live atomic.Pointer[liveState]
}

// liveState is the controller's live config's memory: the Ingress
// versions it serves and the owners of contested hosts.
type liveState struct {
	accepted map[string]*networkingv1.Ingress
	owners   map[string]string
}

type prepared struct {
	snap   *snapshot.Snapshot
	review *model.Review
}

// NewReviewer returns a Reviewer that judges under the model's options
// (the controller's flags; their history fields are ignored: SetLive
// gives the live config's, and the object under review is judged as
// written, as portico check judges it).
func NewReviewer(modelOpts model.Options, opts Options) *Reviewer {
	modelOpts = modelOpts.WithoutHistory()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reviewer{modelOpts: modelOpts, opts: opts, lister: verdict.NewLister(modelOpts), ready: make(chan struct{})}
}

// SetSnapshot makes snap the view reviews are judged against, once it is
// prepared (in the background; until then reviews use the one before).
// The controller calls it with each snapshot it builds; snap is only read.
func (r *Reviewer) SetSnapshot(snap *snapshot.Snapshot) {
	r.snap.Store(snap)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.preparing {
		r.preparing = true
		go r.prepareLatest()
	}
}

// prepareLatest prepares the latest snapshot until no newer one came in
// meanwhile: a burst of syncs costs one preparation more, not one each.
func (r *Reviewer) prepareLatest() {
	for {
		snap := r.snap.Load()
		first := r.prepared.Load() == nil
		r.prepared.Store(&prepared{snap: snap, review: model.NewReview(snap, r.modelOpts)})
		if first {
			close(r.ready)
		}
		r.mu.Lock()
		if r.snap.Load() == snap {
			r.preparing = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// SetLive gives the live config's Ingress versions (model.Config.Accepted)
// and contested hosts' owners (Config.Owners), which the controller's next
// build will use too: a host a namespace keeps although an older Ingress
// of another namespace is edited to claim it is then refused at
// admission, as the controller would not serve it. Both maps are only
// read.
func (r *Reviewer) SetLive(accepted map[string]*networkingv1.Ingress, owners map[string]string) {
	r.live.Store(&liveState{accepted: accepted, owners: owners})
}

// Ready reports whether a snapshot has been set.
func (r *Reviewer) Ready() bool { return r.snap.Load() != nil }

// review returns the latest prepared Review, nil before any snapshot was
// set; only the very first waits for its preparation.
func (r *Reviewer) review() *model.Review {
	if p := r.prepared.Load(); p != nil {
		return p.review
	}
	if r.snap.Load() == nil {
		return nil
	}
	<-r.ready
	return r.prepared.Load().review
}

// ErrNotReady is returned before the controller has set a snapshot.
var ErrNotReady = errors.New(notReadyMessage)

// Ingress judges an Ingress about to be created (creating) or updated.
func (r *Reviewer) Ingress(ing *networkingv1.Ingress, creating bool) (Decision, error) {
	review := r.review()
	if review == nil {
		return Decision{}, ErrNotReady
	}
	if (r.opts.Namespace != "" && ing.Namespace != r.opts.Namespace) || !review.Ours(ing) {
		return Decision{Allowed: true}, nil
	}
	if creating || ing.CreationTimestamp.IsZero() {
		// The API server sets it after admission; without it the new
		// Ingress would sort as the oldest and win every conflict. A
		// shallow copy: only ObjectMeta's own field changes.
		c := *ing
		c.CreationTimestamp = metav1.NewTime(r.opts.Now())
		ing = &c
	}
	opts := r.modelOpts
	opts.Now = r.opts.Now()
	if live := r.live.Load(); live != nil {
		opts.LastAccepted, opts.LastOwners = live.accepted, live.owners
	}
	report := r.lister.List(ing)
	findings := review.Ingress(ing, opts)
	report.Verdict = report.Judge(findings, "")
	return r.decide(&report, findings), nil
}

// decide turns a verdict into an answer: NOT served is refused, and so are
// a snippet the namespace may not use and a conflict (unless
// AllowConflicts); the rest is admitted with warnings.
func (r *Reviewer) decide(report *verdict.Report, findings []model.Finding) Decision {
	var refuse, warn []string
	for _, inv := range report.Invalid {
		refuse = append(refuse, fmt.Sprintf("annotation %s: %s", inv.Key, inv.Message))
	}
	for _, u := range report.Unsupported {
		warn = append(warn, fmt.Sprintf("annotation %s is ignored: %s", u.Key, u.Advice))
	}
	for _, f := range findings {
		if f.Reason == model.ReasonUnknownAnnotation || f.Reason == model.ReasonInvalidAnnotation {
			continue // in Invalid and Unsupported
		}
		msg := f.Reason + ": " + f.Message
		switch {
		case conflict(f) && r.opts.AllowConflicts:
			// Served or not, the operator chose to admit what
			// ingress-nginx admitted; the warning says what happens.
			warn = append(warn, msg+" ("+allowedConflictNote+")")
		case f.Severity == model.NotServed, conflict(f), f.Reason == model.ReasonSnippetNotAllowed:
			// A snippet the namespace may not use is ignored when served;
			// at admission its author can still be told.
			refuse = append(refuse, msg)
		default:
			warn = append(warn, msg)
		}
	}
	what := "is not served"
	if report.Verdict != verdict.NotServed {
		what = "is refused"
	}
	d := answer(fmt.Sprintf("Ingress %s/%s %s", report.Namespace, report.Name, what), refuse, warn)
	d.Report = report
	return d
}

// answer allows with the warnings when nothing refuses, else refuses
// with a message that names the object and says why.
func answer(subject string, refuse, warn []string) Decision {
	d := Decision{Warnings: boundWarnings(warn)}
	if len(refuse) == 0 {
		d.Allowed = true
		return d
	}
	d.Message = bound("portico: "+subject+": "+strings.Join(refuse, "; "), maxMessageLength)
	return d
}

// conflict reports whether a finding says another Ingress already owns
// what this one claims.
func conflict(f model.Finding) bool {
	return f.Reason == model.ReasonConflict || f.Reason == model.ReasonHostNotOwned
}

// ConfigMap judges a new version of the options ConfigMap: option values
// Portico refuses (InvalidOption) are refused; unknown keys and options
// without effect are warnings.
func (r *Reviewer) ConfigMap(cm *corev1.ConfigMap) (Decision, error) {
	review := r.review()
	if review == nil {
		return Decision{}, ErrNotReady
	}
	opts := r.modelOpts
	opts.Now = r.opts.Now()
	var refuse, warn []string
	for _, f := range review.ConfigMap(cm, opts) {
		msg := f.Reason + ": " + f.Message
		if f.Severity == model.NotServed || f.Reason == model.ReasonInvalidOption {
			// A bad value is ignored when served (the default or the
			// last accepted value stays); at admission it can be fixed.
			refuse = append(refuse, msg)
		} else {
			warn = append(warn, msg)
		}
	}
	return answer(fmt.Sprintf("ConfigMap %s/%s is refused", cm.Namespace, cm.Name), refuse, warn), nil
}

// IsOptionsConfigMap reports whether namespace/name is the options
// ConfigMap the controller reads.
func (r *Reviewer) IsOptionsConfigMap(namespace, name string) bool {
	return r.modelOpts.ConfigMap != "" && r.modelOpts.ConfigMap == namespace+"/"+name
}

// boundWarnings keeps the first maxWarnings warnings, each printable and
// bounded, and says how many were left out.
func boundWarnings(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(in), maxWarnings+1))
	for _, w := range in[:min(len(in), maxWarnings)] {
		out = append(out, bound(w, maxWarningLength))
	}
	if len(in) > maxWarnings {
		out = append(out, fmt.Sprintf("portico: %d more warnings; run portico check for all of them", len(in)-maxWarnings))
	}
	return slices.Clip(out)
}

// bound makes s one printable line of at most n bytes: findings quote
// what users wrote, and an answer is printed on someone's terminal.
func bound(s string, n int) string {
	return excerpt.Within(strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return ' '
	}, s), n)
}
