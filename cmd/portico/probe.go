package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-ingress/portico/pkg/nginx"
)

// newNginxProbeCommand is the nginx container's readiness probe: the image
// has no curl, and the internal server listens on a unix socket.
func newNginxProbeCommand(stdout io.Writer) *cobra.Command {
	var runtimeDir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "nginx-probe",
		Short: "Exit 0 when nginx serves (the nginx container's readiness probe)",
		Long: `Check that the nginx of this Pod serves: the master named by
RUNTIME-DIR/nginx.pid runs and is not stopped (SIGSTOP), and a worker answers
` + nginx.HealthPath + ` on the internal server's socket,
RUNTIME-DIR/internal/nginx.sock (in the rendered configuration and in the
bootstrap one). Exit status 1 and the reason otherwise. deploy/deployment.yaml
runs it as the nginx container's exec readiness probe.`,
		Example: `  portico nginx-probe --runtime-dir /tmp/portico`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			dir, err := filepath.Abs(runtimeDir)
			if err != nil {
				return fmt.Errorf("--runtime-dir: %w", err)
			}
			if err := nginx.ProbeServing(ctx, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "internal", "nginx.sock")); err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, "nginx serves")
			return err
		},
	}
	cmd.Flags().StringVar(&runtimeDir, "runtime-dir", "/tmp/portico", "nginx's runtime directory (its -p prefix), shared with the controller")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long nginx may take to answer")
	return cmd
}
