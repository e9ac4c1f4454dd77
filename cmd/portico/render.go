package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

type renderFlags struct {
	model       modelFlags
	file        string
	check       bool
	template    string
	nginxBinary string
	configDir   string
	runtimeDir  string
}

func newRenderCommand(stdout, stderr io.Writer) *cobra.Command {
	var f renderFlags
	cmd := &cobra.Command{
		Use:   "render -f FILE_OR_DIR",
		Short: "Print the nginx.conf Portico would apply for some manifests",
		Long: `Read Kubernetes objects from a YAML file or a directory of them and print the
nginx.conf the controller would make live. The output is deterministic: the
same objects always give the same bytes.

Problems in the files and findings about the objects (missing Services,
conflicts, invalid hosts or paths, bad certificates) go to stderr, and the
exit status is 1 when there are any. With --check the config is also tested
with nginx -t (certificates are written to a temporary directory).`,
		Example: `  portico render -f examples/ --allow-loopback-backends
  portico render -f app.yaml --check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd.Context(), f, stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "", "YAML file or directory of manifests (required)")
	fs.BoolVar(&f.check, "check", false, "also run nginx -t on the result")
	fs.StringVar(&f.template, "template", "", "nginx.conf template file (default: the built-in template)")
	fs.StringVar(&f.nginxBinary, "nginx-binary", "nginx", "nginx executable for --check")
	fs.StringVar(&f.configDir, "config-dir", "/etc/portico", "directory the config refers to for certificate files")
	fs.StringVar(&f.runtimeDir, "runtime-dir", "/tmp/portico", "directory the config refers to for the pid file and temporary files")
	f.model.register(fs)
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runRender(ctx context.Context, f renderFlags, stdout, stderr io.Writer) error {
	configDir, runtimeDir := f.configDir, f.runtimeDir
	if f.check {
		tmp, err := os.MkdirTemp("", "portico-render-")
		if err != nil {
			return fmt.Errorf("temporary directory for --check: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		configDir, runtimeDir = filepath.Join(tmp, "conf"), filepath.Join(tmp, "run")
		for _, d := range []string{filepath.Join(configDir, "certs"), filepath.Join(configDir, "auth"), runtimeDir, filepath.Join(runtimeDir, "internal")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("temporary directory for --check: %w", err)
			}
		}
		// nginx workers (nobody, when run as root) must be able to pass
		// through to the Lua code in the runtime directory; searchable, not
		// listable. The certificates stay in 0700 directories.
		for _, d := range []string{tmp, runtimeDir} {
			if err := os.Chmod(d, 0o711); err != nil {
				return fmt.Errorf("temporary directory for --check: %w", err)
			}
		}
	}
	defaultCert := filepath.Join(configDir, "certs", "default-selfsigned.pem")
	opts, err := f.model.options(runtimeDir, configDir, defaultCert)
	if err != nil {
		return err
	}
	if f.check {
		// nginx -t runs the balancer's Lua code: install it, and settle
		// --balancer auto as the controller would.
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if _, err := resolveBalancer(ctx, nginx.Options{Binary: f.nginxBinary}, f.model.balancer, &opts, log); err != nil {
			return err
		}
		resolveModSecurity(&opts, log)
		resolveHeadersMore(&opts, log)
	}
	template := ""
	if f.template != "" {
		b, err := os.ReadFile(f.template)
		if err != nil {
			return fmt.Errorf("--template: %w", err)
		}
		template = string(b)
	}
	r, err := render.New(template)
	if err != nil {
		return err
	}

	snap, problems := manifests.New(f.file, nil).Load()
	for _, p := range problems {
		fmt.Fprintln(stderr, p.Error())
	}
	cfg, findings := model.Build(snap, opts)
	for _, fd := range findings {
		fmt.Fprintln(stderr, fd.String())
	}
	conf, err := r.Render(cfg, 1)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(conf); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	if f.check {
		if err := checkRendered(ctx, f.nginxBinary, conf, cfg, configDir, runtimeDir, defaultCert); err != nil {
			fmt.Fprintln(stderr, err)
			return exitError{code: 1}
		}
		fmt.Fprintln(stderr, "nginx -t: configuration is valid")
	}
	if len(findings) > 0 || len(problems) > 0 {
		fmt.Fprintf(stderr, "%d problem(s) in the files, %d finding(s) about the objects\n", len(problems), len(findings))
		return exitError{code: 1}
	}
	return nil
}

func checkRendered(ctx context.Context, binary string, conf []byte, cfg *model.Config, configDir, runtimeDir, defaultCert string) error {
	pem, err := certs.SelfSigned(certs.DefaultCommonName, 24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.WriteFile(defaultCert, pem, 0o600); err != nil {
		return fmt.Errorf("writing default certificate: %w", err)
	}
	for _, c := range cfg.Certificates {
		if err := os.WriteFile(c.Path, c.PEM, 0o600); err != nil {
			return fmt.Errorf("writing certificate: %w", err)
		}
	}
	for _, f := range cfg.AuthFiles {
		if err := os.WriteFile(f.Path, f.Content, 0o600); err != nil {
			return fmt.Errorf("writing htpasswd file: %w", err)
		}
	}
	path := filepath.Join(configDir, "nginx.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	d := nginx.NewDriver(nginx.Options{Binary: binary, ConfigPath: path, Prefix: runtimeDir}, nil)
	return d.Test(ctx, path)
}
