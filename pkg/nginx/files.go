package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// writeFileAtomic replaces path with content so that readers (nginx -t, a
// reloading nginx) see either the old or the new file, never a torn one. It
// reports whether it wrote anything: a file whose content is already
// identical is left alone (only its mode is corrected), which keeps mtimes
// stable and avoids needless disk writes on every sync.
//
// chown, when not nil, sets the owner of the new file before it replaces the
// old one (and of an identical existing file).
func writeFileAtomic(path string, content []byte, mode os.FileMode, chown func(string) error) (bool, error) {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, content) {
		if chown != nil {
			if err := chown(path); err != nil {
				return false, err
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			return false, fmt.Errorf("stat: %w", err)
		}
		if fi.Mode().Perm() != mode.Perm() {
			if err := os.Chmod(path, mode.Perm()); err != nil {
				return false, fmt.Errorf("chmod: %w", err)
			}
		}
		return false, nil
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create directory: %w", err)
	}
	// CreateTemp opens with mode 0600, and the final mode is set on the
	// descriptor before the first byte is written: key material is never
	// readable more widely than the caller asked, not even for a moment.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return false, fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	if err := fillAndClose(f, content, mode); err != nil {
		_ = os.Remove(tmp) // best effort: the write error is what matters
		return false, err
	}
	if chown != nil {
		if err := chown(tmp); err != nil {
			_ = os.Remove(tmp) // best effort: the chown error is what matters
			return false, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // best effort: the rename error is what matters
		return false, fmt.Errorf("rename: %w", err)
	}
	syncDir(dir)
	return true, nil
}

// writeFileSynced writes content to path (created or truncated) with mode
// set before the content, and fsyncs it. It is used for the temporary
// nginx.conf, whose name the caller chooses.
func writeFileSynced(path string, content []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	return fillAndClose(f, content, mode)
}

// fillAndClose sets f's mode, writes content, fsyncs and closes f. Closing
// happens on every path so no descriptor leaks.
func fillAndClose(f *os.File, content []byte, mode os.FileMode) error {
	err := f.Chmod(mode.Perm())
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		// fsync before rename: otherwise a crash can leave the new name
		// pointing at an empty file on some filesystems.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

// syncDir fsyncs a directory so that a rename in it survives a crash. It is
// best effort: the rename is already atomic for running readers, and some
// filesystems refuse fsync on directories.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()  // best effort, see above
	_ = d.Close() // read-only descriptor; nothing to flush
}

// chownToWorkers gives a file to the user nginx workers run as. nginx only
// switches its workers' user when the master runs as root (to "nobody" by
// default); otherwise workers share our user and nothing needs changing.
func chownToWorkers(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return fmt.Errorf("looking up the nginx worker user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("worker uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("worker gid %q: %w", u.Gid, err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("chown to nginx workers: %w", err)
	}
	return nil
}

// RemoveStaleTemps removes the temporary files ApplyChange writes next to
// ConfigPath (".nginx.conf.N.tmp", the candidate, and ".nginx.conf.N.check",
// its copy for nginx -t) that an earlier run left behind when it was killed
// between writing and renaming or removing them. Only names of exactly
// that pattern, only in ConfigPath's directory, and only regular files are
// touched. Call it at start, before the first ApplyChange; it returns the
// paths it removed.
func (d *Driver) RemoveStaleTemps() ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.ConfigPath == "" {
		return nil, nil
	}
	dir, base := filepath.Split(d.opts.ConfigPath)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempName(e.Name(), base) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// isTempName reports whether name is one of ApplyChange's temporary names
// for the live file base: "." + base + "." + generation + ".tmp" or ".check".
func isTempName(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return false
	}
	gen, ok := strings.CutSuffix(rest, ".tmp")
	if !ok {
		gen, ok = strings.CutSuffix(rest, ".check")
	}
	if !ok || gen == "" {
		return false
	}
	_, err := strconv.ParseUint(gen, 10, 64)
	return err == nil
}
