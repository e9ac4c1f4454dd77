package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// WatchTemplate reloads the template file whenever it changes. A template
// that fails to parse is logged and the current one keeps rendering. It
// watches the directory, not the file, so editors that save by rename and
// ConfigMap volume updates (symlink swaps) are seen too.
func (c *Controller) WatchTemplate(ctx context.Context, path string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching template: %w", err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("watching template directory %s: %w", filepath.Dir(path), err)
	}
	last, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading template: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			c.log.Warn("template watch error", "error", err)
		case <-w.Events:
			text, err := os.ReadFile(path)
			if err != nil {
				c.log.Warn("reading changed template failed; keeping the current one", "path", path, "error", err)
				continue
			}
			if string(text) == string(last) {
				continue
			}
			if err := c.SetTemplate(string(text)); err != nil {
				c.log.Warn("changed template is invalid; keeping the current one", "path", path, "error", err)
				continue
			}
			last = text
			c.log.Info("template changed; re-rendering", "path", path)
		}
	}
}
