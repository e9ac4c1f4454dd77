package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code out of a command without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(args []string, stdout, stderr io.Writer) int {
	return runAs("portico", args, stdout, stderr)
}

// pluginName is the executable name kubectl runs for "kubectl portico":
// the same binary, linked or copied under that name.
const pluginName = "kubectl-portico"

// runAs runs the command line args of the binary invoked as name (the base
// name of argv[0]); as kubectl-portico it reads "kubectl portico ARGS".
func runAs(name string, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr, name == pluginName)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
}

func newRootCommand(stdout, stderr io.Writer, plugin bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "portico",
		Short: "An nginx Ingress controller that runs beside nginx",
		Long: `Portico turns Kubernetes Ingress objects into an nginx configuration,
checks it with nginx -t, reloads nginx and confirms the new configuration is
live. It reads the nginx.ingress.kubernetes.io annotations ingress-nginx users
already have.

Objects come from a directory of YAML manifests (--manifests), which needs no
cluster; the Kubernetes API source follows.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if plugin {
		// Help and errors then name the command as the user typed it
		// (cobra's way for kubectl plugins: Use holds one word only).
		root.Use = pluginName
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl portico"}
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newControllerCommand(stdout, stderr))
	root.AddCommand(newRenderCommand(stdout, stderr))
	root.AddCommand(newCheckCommand(stdout, stderr))
	root.AddCommand(newVersionCommand(stdout))
	root.AddCommand(newNginxProbeCommand(stdout))
	root.AddCommand(newInspectCommand(stdout, stderr, plugin))
	return root
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Portico version and the Go version it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			goVersion := "unknown"
			if info, ok := debug.ReadBuildInfo(); ok {
				goVersion = info.GoVersion
			}
			_, err := fmt.Fprintf(stdout, "portico %s (%s)\n", version, goVersion)
			return err
		},
	}
}

// newLogger builds the structured logger from --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
}
