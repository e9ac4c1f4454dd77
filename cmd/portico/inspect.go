package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/portico-ingress/portico/pkg/inspect"
)

// defaultDebugAddress is the controller's --debug-address default, as a URL.
const defaultDebugAddress = "http://127.0.0.1:10255"

// inspectFlags are the flags every inspect view shares.
type inspectFlags struct {
	address    string
	output     string
	kubeconfig string
	kubeCtx    string
	namespace  string
	pod        string
	selector   string
	timeout    time.Duration
	// plugin is set when the binary runs as kubectl-portico: with no
	// --address, it then reaches the controller through the current
	// kubeconfig, as kubectl users expect of a plugin.
	plugin bool
}

// viaKube reports whether the views are read through a port-forward.
func (f *inspectFlags) viaKube(cmd *cobra.Command) bool {
	fs := cmd.Flags()
	for _, name := range []string{"kubeconfig", "context", "namespace", "pod", "selector"} {
		if fs.Changed(name) {
			return true
		}
	}
	return f.plugin && !fs.Changed("address")
}

func newInspectCommand(stdout, stderr io.Writer, plugin bool) *cobra.Command {
	f := &inspectFlags{plugin: plugin}
	name := "portico"
	if plugin {
		name = "kubectl portico"
	}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show a running controller's backends, certificates, nginx.conf, Ingresses and reloads",
		Long: `Read a running controller's debug views (what ingress-nginx's kubectl plugin
showed) and print them as aligned tables (-o table) or JSON (-o json).

The controller is reached in one of two ways:

  --address URL    plain HTTP to its debug server (default ` + defaultDebugAddress + `,
                   the controller's --debug-address default): on the controller's
                   machine, inside its Pod, or through your own kubectl port-forward.
  --kubeconfig ... through the Kubernetes API with a port-forward to a controller
                   Pod (--namespace, --pod or --selector pick it; the port is
                   --address's). The debug server stays on loopback in the Pod;
                   the caller needs get/list on pods and create on
                   pods/portforward in the controller's namespace.
                   Any of --kubeconfig, --context, --namespace, --pod or
                   --selector turns this on; run as "kubectl portico" it is the
                   default, with the current kubeconfig.

Nothing is changed: every view is a GET of a /debug/ endpoint.`,
		Example: `  # On the controller's node or in its Pod:
  ` + name + ` inspect ingresses

  # From a workstation, through the API server (port-forward to a Pod):
  ` + name + ` inspect certs --kubeconfig ~/.kube/config -n portico
  kubectl portico inspect reloads          # kubectl-portico on PATH

  # For scripts:
  ` + name + ` inspect backends -o json | jq '.[] | select(.endpoints == [])'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.address, "address", defaultDebugAddress,
		"the controller's debug server (its --debug-address); with a port-forward, only its port is used: the port in the Pod")
	pf.StringVarP(&f.output, "output", "o", inspect.Table, "output format: table or json")
	pf.StringVar(&f.kubeconfig, "kubeconfig", "", "reach the controller through this kubeconfig's API server with a port-forward to its Pod")
	pf.StringVar(&f.kubeCtx, "context", "", "kubeconfig context to use (default: the current one)")
	pf.StringVarP(&f.namespace, "namespace", "n", inspect.DefaultNamespace, "namespace of the controller's Pods (port-forward)")
	pf.StringVar(&f.pod, "pod", "", "controller Pod to port-forward to (default: a ready one matching --selector)")
	pf.StringVarP(&f.selector, "selector", "l", inspect.DefaultSelector, "label selector of the controller's Pods (port-forward)")
	pf.DurationVar(&f.timeout, "timeout", inspect.DefaultTimeout, "give up after this long")

	cmd.AddCommand(
		inspectView(f, stdout, stderr, inspectViewSpec{
			use: "backends", short: "Show the Lua balancer's pools and their endpoints",
			long: `Show every pool (one per Service port) the Lua balancer holds, with its
ready endpoints and how many routes use it: the data nginx balances with now
(/debug/balancer). A pool with no endpoints answers 503 (or its fallback).
JSON: a list of {"name", "endpoints", "routes"}, sorted by name.`,
			example: name + " inspect backends\n  " + name + " inspect backends -o json",
			run: func(ctx context.Context, c *inspect.Client, w io.Writer) error {
				d, err := c.Balancer(ctx)
				if err != nil {
					return err
				}
				return inspect.WriteBackends(w, f.output, inspect.Pools(d))
			},
		}),
		inspectView(f, stdout, stderr, inspectViewSpec{
			use: "certs", short: "Show the served TLS certificates: Secret, hosts, validity, issuer, serial",
			long: `Show every TLS Secret whose certificate the live configuration serves: the
hosts presenting it, issuer, validity, serial, and (with -o json) its
SHA-256 fingerprint (/debug/certs). Only what any TLS client sees in the
handshake is shown: never the certificate's PEM, never the key.
JSON: a list of {"namespace", "secret", "hosts", "subject", "dns_names",
"issuer", "serial", "not_before", "not_after", "sha256_fingerprint",
"error"}, sorted by namespace and secret.`,
			example: name + " inspect certs\n  " + name + " inspect certs -o json | jq -r '.[] | [.secret, .not_after] | @tsv'",
			run: func(ctx context.Context, c *inspect.Client, w io.Writer) error {
				list, err := c.Certificates(ctx)
				if err != nil {
					return err
				}
				return inspect.WriteCertificates(w, f.output, list, time.Now())
			},
		}),
		inspectConf(f, stdout, stderr, name),
		inspectView(f, stdout, stderr, inspectViewSpec{
			use: "ingresses", short: "Show the Ingresses served: hosts, paths, backends, TLS, findings",
			long: `Show every Ingress of the controller's class with each route it has in the
live configuration (host, path, match, Service, upstream pool, TLS Secret)
and what the last build found wrong with it (/debug/ingresses). Host "*" is
a rule without a host. An Ingress with findings but no route is listed as
not served.
JSON: a list of {"namespace", "name", "served", "paths": [{"host", "path",
"match", "service", "upstream", "return", "canary", "tls_secret"}],
"findings": [{"reason", "severity", "message"}]}, sorted by namespace and name.`,
			example: name + " inspect ingresses\n  " + name + " inspect ingresses -o json | jq '.[] | select(.findings != [])'",
			run: func(ctx context.Context, c *inspect.Client, w io.Writer) error {
				list, err := c.Ingresses(ctx)
				if err != nil {
					return err
				}
				return inspect.WriteIngresses(w, f.output, list)
			},
		}),
		inspectReloads(f, stdout, stderr, name),
	)
	return cmd
}

// inspectViewSpec describes one view subcommand.
type inspectViewSpec struct {
	use, short, long, example string
	run                       func(ctx context.Context, c *inspect.Client, w io.Writer) error
}

func inspectView(f *inspectFlags, stdout, stderr io.Writer, spec inspectViewSpec) *cobra.Command {
	return &cobra.Command{
		Use:     spec.use,
		Short:   spec.short,
		Long:    spec.long,
		Example: "  " + spec.example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := inspect.CheckFormat(f.output); err != nil {
				return err
			}
			return withController(cmd, f, stderr, func(ctx context.Context, c *inspect.Client) error {
				return spec.run(ctx, c, stdout)
			})
		},
	}
}

func inspectConf(f *inspectFlags, stdout, stderr io.Writer, name string) *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "conf",
		Short: "Print the live nginx.conf, or one host's server block",
		Long: `Print the nginx.conf nginx runs now (/debug/config): file paths only, never
key material. With --server HOST only the server blocks answering HOST
(its server_name, or a wildcard's regex matching it; "_" for the default
server), as ingress-nginx's "kubectl ingress-nginx conf --host" did.
The text is printed as it is: -o json is refused.`,
		Example: "  " + name + " inspect conf\n  " + name + " inspect conf --server shop.example.com",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != inspect.Table {
				return errors.New("conf prints nginx.conf as text; -o is not supported")
			}
			return withController(cmd, f, stderr, func(ctx context.Context, c *inspect.Client) error {
				conf, err := c.Config(ctx)
				if err != nil {
					return err
				}
				if server != "" {
					if conf, err = inspect.ServerBlocks(conf, server); err != nil {
						return err
					}
				}
				_, err = stdout.Write(conf)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "print only the server blocks answering this host")
	return cmd
}

func inspectReloads(f *inspectFlags, stdout, stderr io.Writer, name string) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "reloads",
		Short: "Show the recent reloads: time, result, generation, duration, reason",
		Long: `Show the controller's recent reload events, newest first (/debug/reloads):
when each started, its result (success, invalid, failed, timeout,
recovered), the config generation, how long until nginx served it, how many
attempts it stands for, and why: the servers it added, removed or changed,
or the first line of nginx's error.
JSON: the events as /debug/reloads has them ({"time", "result",
"generation", "config_hash", "duration_ms", "changes", "message", "count",
"last_time"}).`,
		Example: "  " + name + " inspect reloads\n  " + name + " inspect reloads --limit 5 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := inspect.CheckFormat(f.output); err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must not be negative", limit)
			}
			return withController(cmd, f, stderr, func(ctx context.Context, c *inspect.Client) error {
				events, err := c.Reloads(ctx, limit)
				if err != nil {
					return err
				}
				return inspect.WriteReloads(stdout, f.output, events)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show only the newest N events (0: all the controller keeps)")
	return cmd
}

// withController reaches the controller (directly or through a
// port-forward), runs fn with a client for it, and closes what it opened.
func withController(cmd *cobra.Command, f *inspectFlags, stderr io.Writer, fn func(context.Context, *inspect.Client) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	base, err := debugURL(f.address)
	if err != nil {
		return err
	}
	if !f.viaKube(cmd) {
		return fn(ctx, &inspect.Client{Base: base.String(), Hint: "Is the controller running there with --debug-address " + base.Host +
			"? The debug server listens on loopback by default: run this on the controller's machine or in its Pod, " +
			"or reach it through the API server with --kubeconfig (a port-forward)."})
	}
	port, err := strconv.Atoi(base.Port())
	if err != nil {
		return fmt.Errorf("--address %q: a port-forward needs the port of the controller's --debug-address", f.address)
	}
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = f.kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading,
		&clientcmd.ConfigOverrides{CurrentContext: f.kubeCtx}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.UserAgent = "portico-inspect/" + version
	tunnel, err := inspect.PortForward(ctx, inspect.Forward{Config: restCfg, Namespace: f.namespace, Pod: f.pod,
		Selector: f.selector, Port: port, ErrOut: stderr})
	if err != nil {
		return err
	}
	defer tunnel.Close()
	return fn(ctx, &inspect.Client{Base: "http://" + tunnel.Address,
		Name: fmt.Sprintf("pod %s/%s port %d (port-forward)", f.namespace, tunnel.Pod, port), Hint: fmt.Sprintf(
			"(port-forward to pod %s/%s port %d) Is the controller's --debug-address 127.0.0.1:%d in that Pod? "+
				"A port-forward reaches the Pod's loopback; --address gives the port.", f.namespace, tunnel.Pod, port, port)})
}

// debugURL reads --address: a URL, or HOST:PORT meaning http://HOST:PORT.
func debugURL(address string) (*url.URL, error) {
	if !strings.Contains(address, "://") {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return nil, fmt.Errorf("--address %q: give http://HOST:PORT or HOST:PORT", address)
		}
		address = "http://" + address
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--address %q: give http://HOST:PORT or HOST:PORT", address)
	}
	return u, nil
}
