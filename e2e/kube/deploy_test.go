package kube

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
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// deployNamespace is where deploy/ puts the controller, its ServiceAccount,
// Role, Lease and published Service.
const deployNamespace = "portico"

// applyDeploy creates every object in deploy/ on the API server, the way
// `kubectl apply -f deploy/` would, so the manifests are validated for real,
// and writes a kubeconfig for the portico ServiceAccount: controllers in
// this suite run with its token, so a missing RBAC rule fails the tests.
func (e *environment) applyDeploy() error {
	files, err := filepath.Glob(filepath.Join(e.repoRoot, "deploy", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no deploy/*.yaml found: %v", err)
	}
	sort.Strings(files)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if err := e.create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: creating %T: %w", f, obj, err)
			}
		}
	}
	seconds := int64(3 * 60 * 60)
	tr, err := e.client.CoreV1().ServiceAccounts(deployNamespace).CreateToken(ctx, "portico",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for the portico ServiceAccount: %w", err)
	}
	e.porticoKubeconfig = filepath.Join(e.dir, "portico.kubeconfig")
	return writeKubeconfig(e.porticoKubeconfig, e.apiURL, e.caPEM,
		"system:serviceaccount:portico:portico", tr.Status.Token, deployNamespace)
}

// create sends one decoded object to the API server through the typed client.
func (e *environment) create(ctx context.Context, obj any) error {
	c := e.client
	opts := metav1.CreateOptions{}
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
	default:
		err = fmt.Errorf("deploy/ holds a %T; teach e2e/kube/deploy_test.go to create it", obj)
	}
	return err
}
