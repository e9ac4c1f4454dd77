// Package manifests is the source that reads Kubernetes objects from a
// directory of YAML or JSON files and watches it for changes. It lets Portico
// run without an API server (local development, `portico render`, or a
// ConfigMap mounted as a volume) and hands the model the same Snapshot the
// informer source does.
package manifests

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-ingress/portico/pkg/snapshot"
)

// DefaultSettle is how long a change that removes objects must stay before
// Load applies it. A writer that is not atomic (a shell ">" redirection, a
// tool that writes in chunks, "rm -rf dir && mv new dir") shows a moment where
// a file is empty, cut at a document boundary, or gone; applying that moment
// would answer 404 for every host in it. Real writers finish within
// milliseconds, and one second is the default of the controller's longest
// hold-off (--sync-max-holdoff), so a real deletion goes live within one
// hold-off plus this window. The window counts from when Load first saw the
// version, on Load's clock: file modification times can come from another
// clock (network filesystems) or be copied from elsewhere (cp -p, rsync -t).
const DefaultSettle = time.Second

// RootCheckInterval is how often Run checks that the directory's name still
// leads to the directory it watches (one stat call).
const RootCheckInterval = time.Second

// Source reads the manifests under one directory, or one file. Load and Run may be called
// from different goroutines.
type Source struct {
	dir     string
	logger  *slog.Logger
	decoder runtime.Decoder
	// now is the clock Load measures the settle window with; tests set it.
	now func() time.Time
	// settle is the settle window (DefaultSettle); 0 applies removals at once.
	settle time.Duration
	// rootCheck is how often Run checks the root (RootCheckInterval).
	rootCheck time.Duration
	// recheck wakes Run when Load holds a removal back, so that Run calls
	// changed once the settle window is over and the removal is applied
	// without waiting for another event.
	recheck chan struct{}

	// mu guards lastGood, held and recheckAt, which Load reads and replaces.
	mu sync.Mutex
	// lastGood holds, by file path, the last version of each file that
	// loaded, so that a half-typed edit does not remove anything from the
	// running configuration.
	lastGood map[string]*fileState
	// held holds, by file path, the version of a file that would remove
	// objects and is not applied yet (nil next: the file is gone).
	held map[string]*heldChange
	// recheckAt is when the earliest held change is due; zero when none is.
	recheckAt time.Time
}

// fileState is what one version of a file decoded to.
type fileState struct {
	// sum identifies the content, so an unchanged file is not decoded again:
	// with thousands of objects, decoding is most of the cost of a Load and
	// an edit usually touches one file.
	sum      [sha256.Size]byte
	objects  []object
	warnings []Problem
}

// heldChange is a version of a file that removes objects from the directory,
// since when Load has seen it unchanged, and what is served meanwhile.
type heldChange struct {
	next  *fileState // nil when the file is gone
	since time.Time
	// lost are the objects next removes from the directory.
	lost []objectKey
	// serve is what the file contributes while the change is held: next's
	// objects (additions and changes are not held back) followed by the
	// last good version's objects that next lost.
	serve *fileState
}

// New returns a Source for the manifests under dir; a nil logger discards logs.
func New(dir string, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{
		dir:       filepath.Clean(dir),
		logger:    logger,
		decoder:   newDecoder(),
		now:       time.Now,
		settle:    DefaultSettle,
		rootCheck: RootCheckInterval,
		recheck:   make(chan struct{}, 1),
		lastGood:  make(map[string]*fileState),
		held:      make(map[string]*heldChange),
	}
}

// Load reads every manifest file under the directory and returns the objects
// in them, in file path order then document order, with every problem found.
// A file that cannot be read or parsed contributes the objects of its last
// version that loaded (if any); the snapshot's objects are copies the caller
// may keep and change.
//
// Additions and changes are applied at once. A change that removes objects
// from the directory as a whole (a file emptied, cut short or deleted, the
// directory replaced by one without it) is applied only once Load has seen it
// unchanged for the settle window: until then the objects stay and a warning
// says why, and Run calls changed again when the window is over. A directory
// that is missing keeps all its objects until it is back: "missing" is what a
// directory swap looks like half way, not an order to delete everything.
func (s *Source) Load() (*snapshot.Snapshot, []Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()

	if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		// Nothing is due while it is missing: held changes keep their
		// place, and the watch on the parent says when it is back.
		s.recheckAt = time.Time{}
		snap, problems := s.finish(nil)
		// The directory's own path sorts before the files below it.
		return snap, append([]Problem{{File: s.dir, Err: fmt.Errorf(
			"the manifests directory is missing (deleted, or being replaced): %w; the %d object(s) last loaded from it stay in use until it is back",
			err, snap.Len())}}, problems...)
	}

	var problems []Problem
	files, unsure, scanned := s.scan()
	problems = append(problems, scanned...)
	// next is the version of each file read now; kept are files whose last
	// good version stays whatever happens (unreadable, or broken).
	next := make(map[string]*fileState, len(files))
	kept := make(map[string]bool)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the scan (or a dangling symlink): gone
		}
		if err != nil {
			problems = append(problems, s.reject(Problem{File: path, Err: fmt.Errorf("cannot read file: %w", err)}))
			kept[path] = true
			continue
		}
		sum := sha256.Sum256(data)
		if prev, ok := s.lastGood[path]; ok && prev.sum == sum {
			next[path] = prev
			continue
		}
		if h, ok := s.held[path]; ok && h.next != nil && h.next.sum == sum {
			next[path] = h.next
			continue
		}
		objects, warnings, fatal := parseFile(s.decoder, path, data)
		if fatal != nil {
			problems = append(problems, s.reject(*fatal))
			kept[path] = true
			continue
		}
		next[path] = &fileState{sum: sum, objects: objects, warnings: warnings}
	}
	for path := range s.lastGood {
		if under(path, unsure) {
			kept[path] = true
		}
	}

	s.removals(next, kept, now)
	for path := range s.lastGood {
		if !kept[path] && s.held[path] == nil && next[path] == nil {
			delete(s.lastGood, path)
		}
	}
	for path, st := range next {
		if s.held[path] == nil {
			s.lastGood[path] = st
		}
	}
	for path, st := range s.lastGood {
		switch h := s.held[path]; {
		case kept[path]: // a kept file reports why it is kept instead
		case h != nil:
			problems = append(problems, s.holdProblem(path, h))
			problems = append(problems, h.serve.warnings...)
		default:
			problems = append(problems, st.warnings...)
		}
	}
	return s.finish(problems)
}

// removals leaves in s.held exactly the files whose new version removes
// objects from the directory and is too recent to be believed, and asks Run
// to call changed when the first of them is due.
func (s *Source) removals(next map[string]*fileState, kept map[string]bool, now time.Time) {
	s.held, s.recheckAt = s.holds(next, kept, now)
	if !s.recheckAt.IsZero() {
		select {
		case s.recheck <- struct{}{}:
		default: // Run has a wake-up pending already; it reads recheckAt
		}
	}
}

// holds returns the changes to hold back and when the first is due (zero
// when none is). An object counts as removed only when no file that removes
// nothing holds it: moving an object from one file to another is not a
// removal.
func (s *Source) holds(next map[string]*fileState, kept map[string]bool, now time.Time) (map[string]*heldChange, time.Time) {
	held := make(map[string]*heldChange)
	var first time.Time
	losing := make(map[string][]objectKey)
	for path, prev := range s.lastGood {
		if kept[path] {
			continue
		}
		if lost := missing(prev, next[path]); len(lost) > 0 {
			losing[path] = lost
		}
	}
	if len(losing) == 0 || s.settle <= 0 {
		return held, first // the usual case: nothing to index
	}
	live := make(map[objectKey]bool)
	for path := range kept {
		if prev, ok := s.lastGood[path]; ok {
			for _, o := range prev.objects {
				live[o.key] = true
			}
		}
	}
	for path, st := range next {
		if _, ok := losing[path]; !ok {
			for _, o := range st.objects {
				live[o.key] = true
			}
		}
	}
	for path, lost := range losing {
		lost = slices.DeleteFunc(lost, func(k objectKey) bool { return live[k] })
		if len(lost) == 0 {
			continue
		}
		h, ok := s.held[path]
		if !ok || !sameVersion(h.next, next[path]) {
			h = &heldChange{next: next[path], since: now}
		}
		due := h.since.Add(s.settle)
		if !now.Before(due) {
			continue // unchanged for the whole window: the writer meant it
		}
		h.lost = lost
		h.serve = keepLost(s.lastGood[path], next[path], lost)
		held[path] = h
		if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	return held, first
}

// keepLost returns the objects of next followed by those of prev that are
// in lost, with next's warnings.
func keepLost(prev, next *fileState, lost []objectKey) *fileState {
	serve := &fileState{}
	if next != nil {
		serve.sum = next.sum
		serve.objects = slices.Clone(next.objects)
		serve.warnings = next.warnings
	}
	for _, o := range prev.objects {
		if slices.Contains(lost, o.key) {
			serve.objects = append(serve.objects, o)
		}
	}
	return serve
}

// missing returns the keys of prev's objects that cur lacks (all of them when
// cur is nil: the file is gone).
func missing(prev, cur *fileState) []objectKey {
	if cur == prev {
		return nil
	}
	have := make(map[objectKey]bool)
	if cur != nil {
		for _, o := range cur.objects {
			have[o.key] = true
		}
	}
	var lost []objectKey
	for _, o := range prev.objects {
		if !have[o.key] {
			lost = append(lost, o.key)
		}
	}
	return lost
}

// sameVersion reports whether two versions of a file are the same content
// (both nil: the file is gone both times).
func sameVersion(a, b *fileState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.sum == b.sum
}

// holdProblem says which objects a held change would remove and for how
// long they stay. The text does not count down, so that the caller, which
// logs a problem when it first appears, logs it once.
func (s *Source) holdProblem(path string, h *heldChange) Problem {
	names := make([]string, 0, len(h.lost))
	for _, k := range h.lost {
		names = append(names, k.String())
	}
	slices.Sort(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(h.lost)-3))
	}
	what := "the file is gone; its objects " + strings.Join(names, ", ") + " stay"
	if h.next != nil {
		what = "the new version, applied, no longer holds " + strings.Join(names, ", ") + "; they stay"
	}
	return Problem{File: path, Severity: SeverityWarning, Err: fmt.Errorf(
		"%s in use until the removal has lasted %s, in case a writer is half way: write manifests atomically (docs/manifests.md)",
		what, s.settle)}
}

// finish merges the last good versions into a snapshot and sorts the problems.
func (s *Source) finish(problems []Problem) (*snapshot.Snapshot, []Problem) {
	snap, dups := s.merge()
	problems = append(problems, dups...)
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	s.logger.Debug("loaded manifests", "dir", s.dir, "files", len(s.lastGood),
		"objects", snap.Len(), "problems", len(problems))
	return snap, problems
}

// recheckDue returns when Run should call changed again for a held change,
// or zero when nothing is held.
func (s *Source) recheckDue() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recheckAt
}

// reject completes the Problem of a file that is skipped as a whole, saying
// what the running configuration keeps meanwhile.
func (s *Source) reject(p Problem) Problem {
	p.Severity = SeverityError
	if prev, ok := s.lastGood[p.File]; ok {
		p.Err = fmt.Errorf("%w; the file is skipped and the %d object(s) of its last good version stay in use until it is fixed", p.Err, len(prev.objects))
	} else {
		p.Err = fmt.Errorf("%w; the file is skipped until it is fixed", p.Err)
	}
	return p
}

// scan lists the manifest files under the directory, sorted by path. unsure
// lists directories that exist but could not be read: the files under them
// keep their last good objects, since we cannot tell whether they still exist.
func (s *Source) scan() (files, unsure []string, problems []Problem) {
	root := walkRoot(s.dir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, Problem{File: filepath.Clean(path), Err: fmt.Errorf("cannot read directory: %w", err)})
			if !errors.Is(err, fs.ErrNotExist) {
				unsure = append(unsure, filepath.Clean(path))
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if path == root {
			if !d.IsDir() {
				// A single file (portico render -f app.yaml) is read whatever its name.
				files = append(files, filepath.Clean(path))
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if hidden(name) {
				return fs.SkipDir
			}
			return nil
		}
		if !isManifestFile(name) {
			return nil
		}
		switch {
		case d.Type().IsRegular():
		case d.Type()&fs.ModeSymlink != 0:
			// ConfigMap volumes present each key as a symlink into ..data.
			fi, err := os.Stat(path)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					problems = append(problems, Problem{File: path, Err: fmt.Errorf("cannot follow symlink: %w", err)})
					unsure = append(unsure, path)
				}
				return nil
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
		default:
			return nil // sockets, pipes, devices
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		// The callback never returns an error, so this cannot happen; keep
		// the report anyway rather than drop an error.
		problems = append(problems, Problem{File: s.dir, Err: fmt.Errorf("walking directory: %w", err)})
	}
	slices.Sort(files)
	return files, unsure, problems
}

// walkRoot returns the path to walk for dir. filepath.WalkDir does not follow
// a symlinked root, but a trailing separator makes the kernel resolve it, and
// the paths WalkDir builds below the root come out clean.
func walkRoot(dir string) string {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return dir + string(filepath.Separator)
	}
	return dir
}

// under reports whether path is one of dirs or below one of them.
func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// hidden reports whether a name is hidden: dot files, editor lock files
// (".#x"), and the "..data" machinery of Kubernetes ConfigMap volumes.
func hidden(name string) bool {
	return strings.HasPrefix(name, ".")
}

// isManifestFile reports whether a file name is one Load reads.
func isManifestFile(name string) bool {
	if hidden(name) || strings.HasSuffix(name, "~") || strings.HasPrefix(name, "#") {
		return false // editor backups, locks and autosaves
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// merge builds the snapshot from the last good objects of every file, in path
// order. The first definition of an object wins, as a stable rule that does
// not depend on which file was edited last.
func (s *Source) merge() (*snapshot.Snapshot, []Problem) {
	paths := make([]string, 0, len(s.lastGood))
	for path := range s.lastGood {
		paths = append(paths, path)
	}
	slices.Sort(paths)

	type origin struct {
		file string
		line int
	}
	var (
		snap     = &snapshot.Snapshot{}
		first    = make(map[objectKey]origin)
		problems []Problem
	)
	for _, path := range paths {
		st := s.lastGood[path]
		if h := s.held[path]; h != nil {
			st = h.serve
		}
		for _, o := range st.objects {
			if prev, dup := first[o.key]; dup {
				problems = append(problems, Problem{File: path, Line: o.line,
					Err: fmt.Errorf("%s is already defined at %s:%d; this copy is ignored: rename or delete one of them", o.key, prev.file, prev.line)})
				continue
			}
			first[o.key] = origin{file: path, line: o.line}
			// The parsed objects themselves: nothing changes them once a
			// file is read (an edit parses the file anew), and keeping them
			// lets the model reuse what it built from unchanged files.
			add(snap, o.obj)
		}
	}
	return snap, problems
}

// add appends an object to the snapshot slice of its type.
func add(snap *snapshot.Snapshot, obj runtime.Object) {
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		snap.Ingresses = append(snap.Ingresses, o)
	case *networkingv1.IngressClass:
		snap.IngressClasses = append(snap.IngressClasses, o)
	case *corev1.Service:
		snap.Services = append(snap.Services, o)
	case *discoveryv1.EndpointSlice:
		snap.EndpointSlices = append(snap.EndpointSlices, o)
	case *corev1.Secret:
		snap.Secrets = append(snap.Secrets, o)
	case *corev1.ConfigMap:
		snap.ConfigMaps = append(snap.ConfigMaps, o)
	}
	// normalize rejected every other type before it was stored.
}
