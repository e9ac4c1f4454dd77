package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/kube"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// Exit codes of portico check besides 0.
const (
	checkExitNotServed = 1
	checkExitUsage     = 2
)

type checkFlags struct {
	model      modelFlags
	file       string
	kubeconfig string
	namespace  string
	allClasses bool
	output     string
	timeout    time.Duration
}

// usageError prints a usage problem and exits with 2.
func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, "Error: "+format+"\n", args...)
	fmt.Fprintln(stderr, "Run 'portico check --help' for usage.")
	return exitError{code: checkExitUsage}
}

func newCheckCommand(stdout, stderr io.Writer) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check (-f FILE_OR_DIR | --kubeconfig FILE)",
		Short: "Report, per Ingress, whether Portico would serve it and what to change (migration report)",
		Long: `Read Ingresses from manifests (-f) or from a cluster (--kubeconfig, read once)
and report for each one whether Portico would serve it as written:

  supported     annotations Portico applies as written
  unsupported   annotations Portico ignores, with what to do instead
  invalid       annotation values Portico refuses, and why
  findings      conflicts, missing Services or Secrets, invalid hosts or paths

and a verdict, the worst severity of the Ingress's findings: "served",
"served with warnings" (unsupported annotations, or findings of severity
Served, such as a Service that does not exist yet, or PartlyServed, such as a
path an older Ingress routes), or "NOT served" (a finding of severity
NotServed: an invalid annotation value, a security control that cannot be
honoured, every path left out; or a class that is not Portico's).

Reported are the Ingresses of Portico's class (--controller-class,
--ingress-class, --watch-ingress-without-class, as for the controller) and
those ingress-nginx serves: class "nginx", an IngressClass whose controller is
k8s.io/ingress-nginx, or no class while ingress-nginx's IngressClass is the
default. Those are NOT served until their class changes; the report says what
they would get after the change ("verdictAfterClassChange"), computed as if
every reported Ingress moved at once, so conflicts between them show up.
--all-classes reports the Ingresses of every other class the same way.

Output is a table, or with -o json one document:

  {"ingresses": [{"namespace", "name", "class", "verdict",
                  "verdictAfterClassChange" (only when the class is not ours),
                  "notes": [string],
                  "supported": [annotation key],
                  "unsupported": [{"key", "advice"}],
                  "invalid": [{"key", "message"}],
                  "findings": [{"reason", "severity", "message"}]}],
   "problems": [{"file", "line", "severity", "message"}],   problems in -f files
   "findings": [{"object", "reason", "severity", "message"}], about other objects
   "summary": {"ingresses", "served", "servedWithWarnings", "notServed", "fileErrors"}}

Lists are never null; Ingresses are sorted by namespace and name; keys are
full annotation names. Fields may be added, never renamed or removed.

Exit status: 0 when every reported Ingress would be served (warnings
included), 1 when one would NOT be served or a -f file has errors (warnings
such as ignored Deployments do not count), 2 on usage errors or when the
input cannot be read (missing path, cluster unreachable within --timeout).`,
		Example: `  # manifests of an application still on ingress-nginx
  portico check -f k8s/

  # everything in the cluster, as JSON, Ingresses that would not be served
  portico check --kubeconfig ~/.kube/config -o json |
    jq '.ingresses[] | select(.verdict == "NOT served") | .namespace + "/" + .name'

  # one namespace, every class
  portico check --kubeconfig ~/.kube/config -n shop --all-classes`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(stderr, "unexpected arguments %q: give the manifests with -f", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), f, stdout, stderr)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError(stderr, "%v", err)
	})
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "", "YAML file or directory of manifests to check")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to check (read once; in a Pod without -f the service account is used)")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "report only the Ingresses of this namespace (default: all)")
	fs.BoolVar(&f.allClasses, "all-classes", false, "also report Ingresses of classes other than Portico's and ingress-nginx's")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "how long reading the cluster may take")
	f.model.register(fs)
	return cmd
}

func runCheck(ctx context.Context, f checkFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.output != "table" && f.output != "json" {
		return usageError(stderr, "--output %q: use table or json", f.output)
	}
	if f.file != "" && f.kubeconfig != "" {
		return usageError(stderr, "give either -f or --kubeconfig, not both")
	}
	if f.timeout <= 0 {
		return usageError(stderr, "--timeout %s: must be positive", f.timeout)
	}
	opts, err := f.model.options("/tmp/portico", "/etc/portico", "/etc/portico/certs/default-selfsigned.pem")
	if err != nil {
		return usageError(stderr, "%v", err)
	}

	var snap *snapshot.Snapshot
	var problems []manifests.Problem
	if f.file != "" {
		if _, err := os.Stat(f.file); err != nil {
			return usageError(stderr, "-f: %v", err)
		}
		snap, problems = manifests.New(f.file, nil).Load()
	} else {
		if f.kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return usageError(stderr, "nothing to check: give -f FILE_OR_DIR or --kubeconfig FILE")
		}
		client, _, err := kubeClient(f.kubeconfig)
		if err != nil {
			return usageError(stderr, "%v", err)
		}
		var extra []string
		if f.model.defaultSSLCertificate != "" {
			extra = append(extra, f.model.defaultSSLCertificate)
		}
		snap, err = clusterSnapshot(ctx, client, kube.Options{
			Namespace: f.namespace, ConfigMap: f.model.configMap, ExtraSecrets: extra,
		}, f.timeout)
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return exitError{code: checkExitUsage}
		}
	}

	report := buildCheckReport(snap, problems, opts, f.namespace, f.allClasses)
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	} else if err := writeCheckTable(stdout, report, opts.AnnotationPrefix); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if report.Summary.NotServed > 0 || report.Summary.FileErrors > 0 {
		return exitError{code: checkExitNotServed}
	}
	return nil
}

// clusterSnapshot runs the informer source until its caches have synced,
// takes one snapshot and stops it.
func clusterSnapshot(ctx context.Context, client kubernetes.Interface, o kube.Options, timeout time.Duration) (*snapshot.Snapshot, error) {
	o.Client = client
	src, err := kube.New(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	synced := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func() { once.Do(func() { close(synced) }) })
	}()
	select {
	case <-synced:
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("reading the cluster: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return nil, fmt.Errorf("reading the cluster: no complete list of Ingresses, IngressClasses, Services, EndpointSlices "+
			"and Secrets within --timeout %s; is the API server reachable and may this user list them?", timeout)
	}
	snap, err := src.Snapshot()
	cancel()
	<-done
	return snap, err
}
