// Package ingressstatus writes status.loadBalancer on the Ingresses the
// controller serves: the address clients should use, taken from a published
// Service or from addresses the operator gives. Only the leader runs it.
package ingressstatus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Options configures the updater.
type Options struct {
	// Client writes Ingress status and reads the published Service.
	Client kubernetes.Interface
	// PublishService ("namespace/name") is the Service whose address goes into status.
	PublishService string
	// PublishAddresses are IPs or host names to put in status instead.
	PublishAddresses []string
	// Interval is how often status is checked even without changes.
	Interval time.Duration
	// Logger receives the updater's logs.
	Logger *slog.Logger
}

// Updater keeps the status of served Ingresses pointing at this controller.
type Updater struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	// writing is held by sync and Clear for their whole run, so a sync
	// that started before Clear cannot write status after Clear emptied it.
	writing sync.Mutex

	mu      sync.Mutex
	served  []*networkingv1.Ingress
	cleared bool
}

// New validates the options and returns an Updater.
func New(opts Options) (*Updater, error) {
	if opts.PublishService != "" {
		if ns, name, ok := strings.Cut(opts.PublishService, "/"); !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--publish-service %q must be NAMESPACE/NAME", opts.PublishService)
		}
	}
	for _, a := range opts.PublishAddresses {
		if _, err := netip.ParseAddr(a); err != nil && !validHostname(a) {
			return nil, fmt.Errorf("--publish-status-address %q must be an IP address or a DNS name", a)
		}
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Updater{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}, nil
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Enabled reports whether there is any address to publish.
func (u *Updater) Enabled() bool {
	return u.opts.PublishService != "" || len(u.opts.PublishAddresses) > 0
}

// Observe records the Ingresses the live config serves (controller.Options.Live).
func (u *Updater) Observe(snap *snapshot.Snapshot, cfg *model.Config) {
	served := make(map[string]bool, len(cfg.Ingresses))
	for _, r := range cfg.Ingresses {
		served[r.Namespace+"/"+r.Name] = true
	}
	list := make([]*networkingv1.Ingress, 0, len(cfg.Ingresses))
	for _, ing := range snap.Ingresses {
		if served[ing.Namespace+"/"+ing.Name] {
			list = append(list, ing)
		}
	}
	u.mu.Lock()
	u.served = list
	u.mu.Unlock()
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Run updates status after every Observe and every Interval until ctx ends
// (the leader's term) or Clear is called.
func (u *Updater) Run(ctx context.Context) {
	if !u.Enabled() {
		u.log.Info("no --publish-service or --publish-status-address: Ingress status is not written")
		<-ctx.Done()
		return
	}
	ticker := time.NewTicker(u.opts.Interval)
	defer ticker.Stop()
	u.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.kick:
		case <-ticker.C:
		}
		u.sync(ctx)
	}
}

// Clear empties the status this controller wrote on the Ingresses it
// serves, and stops Run from writing it again. The caller calls it at
// shutdown while it still holds the Lease, so no new leader's status is
// overwritten.
func (u *Updater) Clear(ctx context.Context) {
	u.writing.Lock()
	defer u.writing.Unlock()
	u.mu.Lock()
	u.cleared = true
	u.mu.Unlock()
	if u.Enabled() {
		u.write(ctx, nil, true)
	}
}

func (u *Updater) sync(ctx context.Context) {
	u.writing.Lock()
	defer u.writing.Unlock()
	u.mu.Lock()
	cleared := u.cleared
	u.mu.Unlock()
	if cleared {
		return
	}
	addrs, err := u.addresses(ctx)
	if err != nil {
		u.log.Warn("cannot tell the address to publish; Ingress status unchanged", "error", err)
		return
	}
	u.write(ctx, addrs, false)
}

// write sets status on every served Ingress whose status differs. With
// fresh it reads each Ingress first: at shutdown the observed copies may
// predate the status this controller wrote.
func (u *Updater) write(ctx context.Context, addrs []networkingv1.IngressLoadBalancerIngress, fresh bool) {
	u.mu.Lock()
	served := u.served
	u.mu.Unlock()
	updated := 0
	for _, ing := range served {
		if ctx.Err() != nil {
			return
		}
		if fresh {
			current, err := u.opts.Client.NetworkingV1().Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			ing = current
		}
		if equal(ing.Status.LoadBalancer.Ingress, addrs) {
			continue
		}
		next := ing.DeepCopy()
		next.Status.LoadBalancer.Ingress = addrs
		_, err := u.opts.Client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
		switch {
		case err == nil:
			updated++
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			// A newer version is on its way through the informer; the next
			// Observe brings it and the status is written then.
		case errors.Is(err, context.Canceled):
			return
		default:
			u.log.Warn("updating Ingress status failed", "ingress", ing.Namespace+"/"+ing.Name, "error", err)
		}
	}
	if updated > 0 {
		u.log.Info("Ingress status updated", "ingresses", updated, "addresses", describe(addrs))
	}
}

// addresses returns what to publish, sorted.
func (u *Updater) addresses(ctx context.Context) ([]networkingv1.IngressLoadBalancerIngress, error) {
	var out []networkingv1.IngressLoadBalancerIngress
	for _, a := range u.opts.PublishAddresses {
		if _, err := netip.ParseAddr(a); err == nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	if u.opts.PublishService != "" {
		ns, name, _ := strings.Cut(u.opts.PublishService, "/")
		svc, err := u.opts.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("--publish-service %s: %w", u.opts.PublishService, err)
		}
		out = append(out, serviceAddresses(svc)...)
	}
	slices.SortFunc(out, func(a, b networkingv1.IngressLoadBalancerIngress) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Hostname, b.Hostname))
	})
	return slices.CompactFunc(out, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname
	}), nil
}

// serviceAddresses: a LoadBalancer's ingress once it has one, else the
// external IPs, else the cluster IP.
func serviceAddresses(svc *corev1.Service) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	for _, lb := range svc.Status.LoadBalancer.Ingress {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname})
	}
	if len(out) > 0 {
		return out
	}
	for _, ip := range svc.Spec.ExternalIPs {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
	}
	if len(out) > 0 {
		return out
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
	}
	return out
}

func equal(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IngressLoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

func describe(addrs []networkingv1.IngressLoadBalancerIngress) string {
	parts := make([]string, 0, len(addrs))
	for _, a := range addrs {
		parts = append(parts, cmp.Or(a.IP, a.Hostname))
	}
	return strings.Join(parts, ",")
}
