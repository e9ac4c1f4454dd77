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

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Source reads the manifests under one directory, or one file. Load and Run may be called
// from different goroutines.
type Source struct {
	dir     string
	logger  *slog.Logger
	decoder runtime.Decoder

	// mu guards lastGood, which Load reads and replaces.
	mu sync.Mutex
	// lastGood holds, by file path, the last version of each file that
	// loaded, so that a half-typed edit does not remove anything from the
	// running configuration.
	lastGood map[string]*fileState
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

// New returns a Source for the manifests under dir; a nil logger discards logs.
func New(dir string, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{
		dir:      filepath.Clean(dir),
		logger:   logger,
		decoder:  newDecoder(),
		lastGood: make(map[string]*fileState),
	}
}

// Load reads every manifest file under the directory and returns the objects
// in them, in file path order then document order, with every problem found.
// A file that cannot be read or parsed contributes the objects of its last
// version that loaded (if any); the snapshot's objects are copies the caller
// may keep and change.
func (s *Source) Load() (*snapshot.Snapshot, []Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()

	files, unsure, problems := s.scan()
	present := make(map[string]bool, len(files))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the scan (or a dangling symlink): gone
		}
		present[path] = true
		if err != nil {
			problems = append(problems, s.reject(Problem{File: path, Err: fmt.Errorf("cannot read file: %w", err)}))
			continue
		}
		sum := sha256.Sum256(data)
		if prev, ok := s.lastGood[path]; ok && prev.sum == sum {
			problems = append(problems, prev.warnings...)
			continue
		}
		objects, warnings, fatal := parseFile(s.decoder, path, data)
		if fatal != nil {
			problems = append(problems, s.reject(*fatal))
			continue
		}
		problems = append(problems, warnings...)
		s.lastGood[path] = &fileState{sum: sum, objects: objects, warnings: warnings}
	}
	for path := range s.lastGood {
		if !present[path] && !under(path, unsure) {
			delete(s.lastGood, path)
		}
	}

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
		for _, o := range s.lastGood[path].objects {
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
