// Package kube is the source that watches the Kubernetes API with shared
// informers and hands the model the same Snapshot the manifests source does.
package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Options configures the source.
type Options struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Namespace limits the watch to one namespace; "" watches all.
	Namespace string
	// ConfigMap is "namespace/name" of the global options ConfigMap, or "".
	ConfigMap string
	// AnnotationPrefix is the annotation prefix ("" means nginx.ingress.kubernetes.io);
	// its auth-secret annotation refers to Secrets too.
	AnnotationPrefix string
	// ExtraSecrets are "namespace/name" of Secrets the options refer to
	// (the default certificate); changes to them trigger a sync too.
	ExtraSecrets []string
	// Logger receives the source's logs.
	Logger *slog.Logger
}

// tlsSecretIndex indexes Ingresses by the "namespace/name" of the Secrets
// they refer to, so a Secret event finds its users without a scan.
const tlsSecretIndex = "portico.dev/secrets"

// headerMapIndex indexes Ingresses by the ConfigMaps their custom-headers
// and auth-proxy-set-headers name.
const headerMapIndex = "portico.dev/custom-headers"

// ingressRef returns the "namespace/name" each of the Ingress annotations
// names, always in the Ingress's namespace (the model reads no other).
func ingressRef(obj any, annotations ...string) ([]string, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, a := range annotations {
		v := strings.TrimSpace(ing.Annotations[a])
		if v == "" {
			continue
		}
		if _, n, found := strings.Cut(v, "/"); found {
			v = n
		}
		if k := ing.Namespace + "/" + v; !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Source watches Ingresses, IngressClasses, Services, EndpointSlices,
// Secrets and ConfigMaps.
type Source struct {
	opts    Options
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// configMaps has its own factory when --configmap is outside the watched namespace.
	cmFactory informers.SharedInformerFactory

	ingresses      cache.SharedIndexInformer
	ingressClasses cache.SharedIndexInformer
	services       cache.SharedIndexInformer
	slices         cache.SharedIndexInformer
	secrets        cache.SharedIndexInformer
	configMaps     cache.SharedIndexInformer
	// headerMaps are the ConfigMaps of the watched namespaces; only those an
	// Ingress's custom-headers or auth-proxy-set-headers names reach the snapshot.
	headerMaps cache.SharedIndexInformer

	// endpointsChanged, when set, is called instead of changed for
	// EndpointSlice changes (see NotifyEndpoints).
	endpointsChanged func()

	synced atomic.Bool
}

// NotifyEndpoints makes Run call fn instead of its changed callback for
// EndpointSlice changes, so a controller that needs no reload for them can
// act on them faster. Call it before Run.
func (s *Source) NotifyEndpoints(fn func()) { s.endpointsChanged = fn }

// New creates the informers; Run starts them.
func New(opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{opts: opts, log: opts.Logger}
	s.factory = informers.NewSharedInformerFactoryWithOptions(opts.Client, 0, informers.WithNamespace(opts.Namespace))
	s.ingresses = s.factory.Networking().V1().Ingresses().Informer()
	// IngressClasses are cluster-scoped; a namespaced factory still lists them cluster-wide.
	s.ingressClasses = informers.NewSharedInformerFactory(opts.Client, 0).Networking().V1().IngressClasses().Informer()
	s.services = s.factory.Core().V1().Services().Informer()
	s.slices = s.factory.Discovery().V1().EndpointSlices().Informer()
	s.secrets = s.factory.Core().V1().Secrets().Informer()
	s.headerMaps = s.factory.Core().V1().ConfigMaps().Informer()

	cmNamespace, _, err := splitKey(opts.ConfigMap)
	if err != nil {
		return nil, fmt.Errorf("--configmap: %w", err)
	}
	if opts.ConfigMap != "" {
		// Watch only the one ConfigMap: ConfigMaps are numerous and large.
		_, name, _ := splitKey(opts.ConfigMap)
		s.cmFactory = informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
			informers.WithNamespace(cmNamespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = "metadata.name=" + name
			}))
		s.configMaps = s.cmFactory.Core().V1().ConfigMaps().Informer()
	}
	prefix := opts.AnnotationPrefix
	if prefix == "" {
		prefix = annotations.DefaultPrefix
	}
	authKey := strings.TrimSuffix(prefix, "/") + "/auth-secret"
	headersKey := strings.TrimSuffix(prefix, "/") + "/custom-headers"
	authHeadersKey := strings.TrimSuffix(prefix, "/") + "/auth-proxy-set-headers"
	if err := s.ingresses.AddIndexers(cache.Indexers{
		tlsSecretIndex: func(obj any) ([]string, error) { return ingressSecrets(obj, authKey) },
		headerMapIndex: func(obj any) ([]string, error) { return ingressRef(obj, headersKey, authHeadersKey) },
	}); err != nil {
		return nil, fmt.Errorf("indexing Ingresses: %w", err)
	}
	for _, key := range opts.ExtraSecrets {
		if _, _, err := splitKey(key); err != nil {
			return nil, fmt.Errorf("secret %q: %w", key, err)
		}
	}
	return s, nil
}

func splitKey(key string) (string, string, error) {
	if key == "" {
		return "", "", nil
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || ns == "" || name == "" {
		return "", "", fmt.Errorf("%q must be NAMESPACE/NAME", key)
	}
	return ns, name, nil
}

// ingressSecrets lists the Secrets an Ingress refers to: TLS Secrets and
// its basic-auth Secret (authKey is the full auth-secret annotation name).
func ingressSecrets(obj any, authKey string) ([]string, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			keys = append(keys, ing.Namespace+"/"+t.SecretName)
		}
	}
	if v := strings.TrimSpace(ing.Annotations[authKey]); v != "" {
		name := v
		if _, n, found := strings.Cut(v, "/"); found {
			name = n // the model only reads Secrets of the Ingress's namespace
		}
		keys = append(keys, ing.Namespace+"/"+name)
	}
	return keys, nil
}

// Run starts the informers, waits for their caches, calls changed once the
// first complete snapshot is available and then after every relevant
// change, until ctx ends.
func (s *Source) Run(ctx context.Context, changed func()) error {
	start := time.Now()
	always := s.handler(changed, nil)
	for _, inf := range []cache.SharedIndexInformer{s.ingresses, s.ingressClasses, s.services} {
		if _, err := inf.AddEventHandler(always); err != nil {
			return fmt.Errorf("adding event handler: %w", err)
		}
	}
	endpoints := always
	if s.endpointsChanged != nil {
		endpoints = s.handler(s.endpointsChanged, nil)
	}
	if _, err := s.slices.AddEventHandler(endpoints); err != nil {
		return fmt.Errorf("adding event handler: %w", err)
	}
	if _, err := s.secrets.AddEventHandler(s.handler(changed, s.secretReferenced)); err != nil {
		return fmt.Errorf("adding event handler: %w", err)
	}
	if _, err := s.headerMaps.AddEventHandler(s.handler(changed, s.headerMapReferenced)); err != nil {
		return fmt.Errorf("adding event handler: %w", err)
	}
	infs := []cache.SharedIndexInformer{s.ingresses, s.ingressClasses, s.services, s.slices, s.secrets, s.headerMaps}
	if s.configMaps != nil {
		if _, err := s.configMaps.AddEventHandler(always); err != nil {
			return fmt.Errorf("adding event handler: %w", err)
		}
		infs = append(infs, s.configMaps)
	}
	for _, inf := range infs {
		go inf.RunWithContext(ctx)
	}
	synced := make([]cache.InformerSynced, 0, len(infs))
	for _, inf := range infs {
		synced = append(synced, inf.HasSynced)
	}
	s.log.Info("waiting for the API server caches to sync", "namespace", nsLabel(s.opts.Namespace))
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	s.synced.Store(true)
	s.log.Info("caches synced", "duration_ms", time.Since(start).Milliseconds(),
		"ingresses", len(s.ingresses.GetStore().ListKeys()), "services", len(s.services.GetStore().ListKeys()))
	changed()
	<-ctx.Done()
	return nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// secretReferenced reports whether some Ingress or option refers to a Secret:
// only those cause a sync, so unrelated Secret churn costs nothing.
func (s *Source) secretReferenced(obj any) bool {
	meta, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return true
	}
	for _, k := range s.opts.ExtraSecrets {
		if k == meta {
			return true
		}
	}
	users, err := s.ingresses.GetIndexer().ByIndex(tlsSecretIndex, meta)
	return err != nil || len(users) > 0
}

// handler triggers changed on adds, deletes and real updates. A resync or
// an update that did not change the object (same resourceVersion) is not a
// change. filter, when set, decides whether the object matters at all.
// Events before the initial sync are the cache filling up: Run calls
// changed once when it is complete.
func (s *Source) handler(changed func(), filter func(any) bool) cache.ResourceEventHandler {
	fire := func(obj any) {
		if !s.synced.Load() {
			return
		}
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if filter != nil && !filter(obj) {
			return
		}
		changed()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { fire(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(metav1.Object)
			n, ok2 := newObj.(metav1.Object)
			if ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			fire(newObj)
		},
		DeleteFunc: func(obj any) { fire(obj) },
	}
}

// Snapshot lists every cached object. The objects are the informers' own;
// the model only reads them, and informers replace objects, never mutate.
func (s *Source) Snapshot() (*snapshot.Snapshot, error) {
	if !s.synced.Load() {
		return nil, snapshot.ErrNotSynced
	}
	snap := &snapshot.Snapshot{
		Ingresses:      list[*networkingv1.Ingress](s.ingresses),
		IngressClasses: list[*networkingv1.IngressClass](s.ingressClasses),
		Services:       list[*corev1.Service](s.services),
		EndpointSlices: list[*discoveryv1.EndpointSlice](s.slices),
		Secrets:        s.referencedSecrets(),
	}
	seen := map[string]bool{}
	if s.configMaps != nil {
		for _, cm := range list[*corev1.ConfigMap](s.configMaps) {
			seen[cm.Namespace+"/"+cm.Name] = true
			snap.ConfigMaps = append(snap.ConfigMaps, cm)
		}
	}
	for _, obj := range s.headerMaps.GetStore().List() {
		cm, ok := obj.(*corev1.ConfigMap)
		if ok && !seen[cm.Namespace+"/"+cm.Name] && s.headerMapReferenced(cm) {
			snap.ConfigMaps = append(snap.ConfigMaps, cm)
		}
	}
	return snap, nil
}

// headerMapReferenced reports whether an Ingress names the ConfigMap in
// custom-headers or auth-proxy-set-headers.
func (s *Source) headerMapReferenced(obj any) bool {
	k, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return true
	}
	users, err := s.ingresses.GetIndexer().ByIndex(headerMapIndex, k)
	return err != nil || len(users) > 0
}

// referencedSecrets returns only Secrets something refers to, so the model
// (and anything that ever dumps a snapshot) never holds unrelated key material.
func (s *Source) referencedSecrets() []*corev1.Secret {
	var out []*corev1.Secret
	for _, obj := range s.secrets.GetStore().List() {
		if sec, ok := obj.(*corev1.Secret); ok && s.secretReferenced(sec) {
			out = append(out, sec)
		}
	}
	return out
}

func list[T any](inf cache.SharedIndexInformer) []T {
	items := inf.GetStore().List()
	out := make([]T, 0, len(items))
	for _, obj := range items {
		if t, ok := obj.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
