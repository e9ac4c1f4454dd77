package manifests

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the directory and its subdirectories (including ones created
// later) and calls changed after every event that may change what Load
// returns, until ctx is done. It also calls changed once as soon as the watch
// is in place, so that an edit made between the caller's first Load and the
// start of Run is not missed, and once more when a removal that Load held
// back is due. changed runs on Run's goroutine; bursts are not coalesced
// here. Run returns nil when ctx is done, and an error only when the
// directory cannot be watched at all; later watcher errors are logged.
//
// Run also watches the directory's parent, because inotify follows a watched
// directory's inode, not its name: when the directory is deleted and created
// again, renamed over, or is a symlink that is pointed elsewhere, the parent
// sees the name come back and Run watches the new tree from then on. For
// what the parent cannot see (a symlink further up re-pointed), Run also
// checks every RootCheckInterval that the name still leads to the directory
// it watches.
func (s *Source) Run(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("creating file watcher for %s: %w", s.dir, err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			s.logger.Warn("closing manifests watcher", "dir", s.dir, "error", err)
		}
	}()

	t := &watchTree{root: s.dir, w: w, logger: s.logger, watched: make(map[string]bool)}
	if err := t.add(s.dir); err != nil {
		return fmt.Errorf("watching manifests directory: %w", err)
	}
	if parent := filepath.Dir(s.dir); parent != s.dir {
		if err := w.Add(parent); err != nil {
			s.logger.Warn("cannot watch the parent of the manifests directory; if the directory is replaced, the new one will not be watched",
				"dir", s.dir, "parent", parent, "error", explainWatchErr(err))
		}
	}
	s.logger.Info("watching manifests", "dir", s.dir, "directories", len(t.watched))
	changed()

	// recheck fires when a removal Load held back is due; it is stopped
	// until Load asks for it.
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	checkRoot := time.NewTicker(s.rootCheck)
	defer checkRoot.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-checkRoot.C:
			if t.checkRoot() {
				changed()
			}
		case <-s.recheck:
			if due := s.recheckDue(); !due.IsZero() {
				recheck.Reset(max(due.Sub(s.now()), 0))
			}
		case <-recheck.C:
			s.logger.Debug("manifests: a held-back removal is due")
			changed()
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("manifests watcher for %s closed unexpectedly", s.dir)
			}
			if t.relevant(ev) {
				s.logger.Debug("manifests changed", "event", ev.String())
				changed()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("manifests watcher for %s closed unexpectedly", s.dir)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Some events are lost, so we cannot know what changed:
				// reloading everything is always correct.
				s.logger.Warn("manifests watcher dropped events; reloading all files", "dir", s.dir, "error", err)
				changed()
				continue
			}
			s.logger.Error("manifests watcher", "dir", s.dir, "error", err)
		}
	}
}

// watchTree keeps one inotify watch per directory, since inotify is not
// recursive. It belongs to one Run call, so it needs no lock.
type watchTree struct {
	root    string
	w       *fsnotify.Watcher
	logger  *slog.Logger
	watched map[string]bool
	// missing is set while the root is gone, so that its return is logged once.
	missing bool
	// rootInfo is what the root's name led to when it was last watched (nil
	// when it could not be), to tell when the name leads elsewhere.
	rootInfo os.FileInfo
}

// add watches dir and every non-hidden directory below it. Only a failure on
// dir itself is returned: a subdirectory we cannot watch should not stop us
// from watching the rest.
func (t *watchTree) add(dir string) error {
	// Stat before watching: if the name moves on in between, the next
	// checkRoot sees a difference and watches again, where the other order
	// would record the new directory while watching the old one.
	info, _ := os.Stat(dir)
	if err := t.w.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, explainWatchErr(err))
	}
	t.watched[dir] = true
	if dir == t.root {
		t.rootInfo = info
	}
	root := walkRoot(dir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.logger.Warn("cannot list directory to watch it", "path", path, "error", err)
			return nil
		}
		if path == root || !d.IsDir() {
			return nil
		}
		if hidden(d.Name()) {
			return fs.SkipDir
		}
		if err := t.w.Add(path); err != nil {
			t.logger.Warn("cannot watch directory; changes in it will be missed", "path", path, "error", explainWatchErr(err))
			return fs.SkipDir
		}
		t.watched[path] = true
		return nil
	})
	if err != nil {
		t.logger.Warn("cannot list directory to watch it", "path", dir, "error", err)
	}
	return nil
}

// explainWatchErr says what to do about the one watch error operators hit in
// practice: the per-user inotify watch limit.
func explainWatchErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (inotify watch limit reached: raise fs.inotify.max_user_watches)", err)
	}
	return err
}

// forget drops the watches of a directory that was removed or moved away, and
// of everything below it, so that a directory later created with the same
// name is watched afresh.
func (t *watchTree) forget(dir string) {
	for path := range t.watched {
		if !under(path, []string{dir}) {
			continue
		}
		delete(t.watched, path)
		// inotify has already dropped the watch of a deleted directory, so
		// "non-existent watch" is the expected answer there.
		if err := t.w.Remove(path); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
			t.logger.Debug("removing watch", "path", path, "error", err)
		}
	}
}

// rewatchRoot drops the watches of the tree that was at the root's name and
// watches the tree that is there now, if any: after a directory swap the old
// watches follow the old inodes, which no longer matter.
func (t *watchTree) rewatchRoot() {
	t.forget(t.root)
	t.rootInfo = nil
	err := t.add(t.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !t.missing {
			t.logger.Warn("manifests directory is missing; its last objects stay in use, and it is watched again when it is back", "dir", t.root)
		}
		t.missing = true
	case err != nil:
		t.logger.Error("cannot watch the manifests directory again; changes in it will be missed", "dir", t.root, "error", err)
	default:
		if t.missing {
			t.logger.Info("manifests directory is back; watching it again", "dir", t.root, "directories", len(t.watched))
		}
		t.missing = false
	}
}

// checkRoot watches the root again when its name no longer leads to the
// directory that is watched, and reports whether it did. Run calls it
// periodically for the changes no watch sees: a symlink above the root
// re-pointed (--manifests /srv/current/manifests, with current re-pointed
// by a deploy), the target of a symlinked root deleted and created again,
// or a parent that could not be watched.
func (t *watchTree) checkRoot() bool {
	info, err := os.Stat(t.root)
	if (err != nil && t.rootInfo == nil) || (err == nil && t.rootInfo != nil && os.SameFile(info, t.rootInfo)) {
		return false
	}
	if err == nil {
		t.logger.Info("the manifests directory's name leads to another directory; watching it again", "dir", t.root)
	}
	t.rewatchRoot() // which says so if it is gone
	return true
}

// relevant updates the watches for directory events and reports whether the
// event may change what Load returns.
func (t *watchTree) relevant(ev fsnotify.Event) bool {
	path := filepath.Clean(ev.Name)
	if path == t.root {
		if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			t.rewatchRoot()
		}
		return true // Load reports a missing directory and keeps its objects
	}
	if !under(path, []string{t.root}) {
		return false // another entry of the parent directory
	}
	name := filepath.Base(path)
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && t.watched[path] {
		t.forget(path)
		return true
	}
	if ev.Has(fsnotify.Create) && !hidden(name) {
		if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
			// Files may already be in it before the watch is in place; the
			// changed() call that follows makes Load pick them up.
			if err := t.add(path); errors.Is(err, fs.ErrNotExist) {
				t.logger.Debug("new directory vanished before it could be watched", "path", path)
			} else if err != nil {
				t.logger.Warn("cannot watch new directory; changes in it will be missed", "path", path, "error", err)
			}
			return true
		}
	}
	// Names starting with ".." are how a ConfigMap volume swaps its content
	// at once (..data is re-pointed), which changes every file in it.
	return isManifestFile(name) || strings.HasPrefix(name, "..")
}
