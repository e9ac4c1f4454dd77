package framework

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// ApplyOption changes how ApplyDir sends objects.
type ApplyOption func(*applyOptions)

type applyOptions struct {
	dryRun func(runtime.Object) bool
}

// DryRunIf makes ApplyDir send the objects for which match is true as a
// server-side dry run (metav1.DryRunAll): the API server decodes,
// defaults, validates and admits them for real, but does not store them.
// A suite uses it for an object that must be valid but whose effect it
// cannot have, such as a webhook configuration no process serves.
func DryRunIf(match func(runtime.Object) bool) ApplyOption {
	return func(o *applyOptions) { o.dryRun = match }
}

// IsWebhookConfiguration reports whether obj is a validating or mutating
// admission webhook configuration: the matcher for DryRunIf in suites
// where no webhook answers, in which a stored configuration with
// failurePolicy Fail would refuse every write it matches.
func IsWebhookConfiguration(obj runtime.Object) bool {
	switch obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration:
		return true
	}
	return false
}

// ApplyDir creates every object of dir/*.yaml on the API server, in file
// name order, the way `kubectl apply -f dir/` would, so the manifests are
// validated for real. edit, when not nil, may change each object before it
// is sent (a test points the Deployment at its image). Objects that exist
// already are left as they are. opts may send some objects as a dry run
// only (DryRunIf).
func ApplyDir(ctx context.Context, c kubernetes.Interface, dir string, edit func(runtime.Object), opts ...ApplyOption) error {
	var o applyOptions
	for _, opt := range opts {
		opt(&o)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no %s/*.yaml found: %v", dir, err)
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := DecodeYAML(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, obj := range objs {
			if edit != nil {
				edit(obj)
			}
			var create metav1.CreateOptions
			if o.dryRun != nil && o.dryRun(obj) {
				create.DryRun = []string{metav1.DryRunAll}
			}
			if err := CreateWith(ctx, c, obj, create); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: creating %T: %w", f, obj, err)
			}
		}
	}
	return nil
}

// DecodeYAML decodes a multi-document YAML stream of built-in kinds.
func DecodeYAML(raw []byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}

// Create sends one decoded object to the API server through the typed
// client. It knows the kinds deploy/ and the chart hold.
func Create(ctx context.Context, c kubernetes.Interface, obj runtime.Object) error {
	return CreateWith(ctx, c, obj, metav1.CreateOptions{})
}

// CreateWith is Create with options (a dry run, a field manager).
func CreateWith(ctx context.Context, c kubernetes.Interface, obj runtime.Object, opts metav1.CreateOptions) error {
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Create(ctx, o, opts)
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, opts)
	case *corev1.ConfigMap:
		_, err = c.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, opts)
	case *corev1.Service:
		_, err = c.CoreV1().Services(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, o, opts)
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, opts)
	case *rbacv1.Role:
		_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.RoleBinding:
		_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, opts)
	case *networkingv1.IngressClass:
		_, err = c.NetworkingV1().IngressClasses().Create(ctx, o, opts)
	case *appsv1.Deployment:
		_, err = c.AppsV1().Deployments(o.Namespace).Create(ctx, o, opts)
	case *policyv1.PodDisruptionBudget:
		_, err = c.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, opts)
	case *corev1.Secret:
		_, err = c.CoreV1().Secrets(o.Namespace).Create(ctx, o, opts)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		_, err = c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, o, opts)
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		_, err = c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, o, opts)
	default:
		err = fmt.Errorf("no client for a %T; teach e2e/framework/apply.go to create it", obj)
	}
	return err
}
