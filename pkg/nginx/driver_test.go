package nginx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSupervisorStartVerify(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	e.requireBody(t, "v1")
	require.Equal(t, e.sup.Pid(), PIDFileProcess{Path: e.opts.PIDFile}.Pid())
}

func TestApplyReloads(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	masterPid := e.sup.Pid()

	res, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	require.True(t, res.Signalled)
	require.Positive(t, res.Test)
	require.Positive(t, res.Reload)
	require.GreaterOrEqual(t, res.Total, res.Test+res.Reload)
	t.Logf("apply: test %v, reload %v, total %v", res.Test, res.Reload, res.Total)

	e.requireBody(t, "v2")
	require.Equal(t, masterPid, e.sup.Pid(), "a reload keeps the master")
	live, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)
	require.Equal(t, e.conf(2, ""), live)
}

func TestApplyRejectsBrokenConfig(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	before, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)

	res, err := e.drv.Apply(context.Background(), e.conf(3, "bogus_directive on;"), nil, 3)
	var testErr *TestError
	require.ErrorAs(t, err, &testErr)
	require.Contains(t, testErr.Output, `unknown directive "bogus_directive"`)
	require.Contains(t, err.Error(), ".nginx.conf.3.tmp:", "nginx names file:line")
	require.False(t, res.Signalled)
	require.Positive(t, res.Test)

	after, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)
	require.Equal(t, before, after, "live file untouched")
	_, err = os.Stat(filepath.Join(e.dir, ".nginx.conf.3.tmp"))
	require.ErrorIs(t, err, os.ErrNotExist, "rejected temp file removed")
	e.requireBody(t, "v2")
}

func TestApplyFiles(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	certDir := filepath.Join(e.dir, "certs")
	key := File{Path: filepath.Join(certDir, "a.key"), Content: []byte("secret key"), Mode: 0o600}
	crt := File{Path: filepath.Join(certDir, "a.crt"), Content: []byte("certificate"), Mode: 0o644}
	deflt := File{Path: filepath.Join(certDir, "b.key"), Content: []byte("mode defaults to 0600")}

	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), []File{key, crt, deflt}, 2)
	require.NoError(t, err)
	for _, c := range []struct {
		f    File
		mode os.FileMode
	}{{key, 0o600}, {crt, 0o644}, {deflt, 0o600}} {
		fi, err := os.Stat(c.f.Path)
		require.NoError(t, err)
		require.Equal(t, c.mode, fi.Mode().Perm(), c.f.Path)
		got, err := os.ReadFile(c.f.Path)
		require.NoError(t, err)
		require.Equal(t, c.f.Content, got)
	}
	keyBefore, err := os.Stat(key.Path)
	require.NoError(t, err)

	// Same key content again, changed certificate: only the certificate is
	// rewritten (a rename would give the key a new inode and mtime).
	crt.Content = []byte("renewed certificate")
	_, err = e.drv.Apply(context.Background(), e.conf(3, ""), []File{key, crt}, 3)
	require.NoError(t, err)
	keyAfter, err := os.Stat(key.Path)
	require.NoError(t, err)
	require.Equal(t, keyBefore.ModTime(), keyAfter.ModTime())
	require.Equal(t, keyBefore.Sys().(*syscall.Stat_t).Ino, keyAfter.Sys().(*syscall.Stat_t).Ino)
	got, err := os.ReadFile(crt.Path)
	require.NoError(t, err)
	require.Equal(t, crt.Content, got)

	entries, err := os.ReadDir(certDir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "no temporary files left behind")

	require.NoError(t, e.drv.CleanupFiles(certDir, map[string]bool{key.Path: true, crt.Path: true}))
	entries, err = os.ReadDir(certDir)
	require.NoError(t, err)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	require.ElementsMatch(t, []string{"a.key", "a.crt"}, names)
	require.NoError(t, e.drv.CleanupFiles(filepath.Join(e.dir, "missing"), nil))
}

func TestVerifyTimesOut(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := e.drv.Verify(ctx, 99)
	var verr *VerifyError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, uint64(99), verr.Generation)
	require.Equal(t, `"1"`, verr.Last)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestPIDFileProcess(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	p := PIDFileProcess{Path: e.opts.PIDFile}
	require.True(t, p.Alive())
	require.Equal(t, e.sup.Pid(), p.Pid())

	// The sidecar-mode driver: same files, nginx known only by its pid file.
	drv := NewDriver(e.opts, p)
	res, err := drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	require.True(t, res.Signalled)
	e.requireBody(t, "v2")

	e.stop(t)
	require.False(t, p.Alive(), "nginx removes its pid file on exit")
	require.Zero(t, p.Pid())
	require.ErrorIs(t, p.Signal(syscall.SIGHUP), ErrNotRunning)

	// A stale pid file naming a dead process is not alive either.
	require.NoError(t, os.WriteFile(e.opts.PIDFile, []byte("999999999\n"), 0o644))
	require.False(t, p.Alive())
}

// TestSupervisorRestartsAfterKill: a killed master is restarted, and the
// unix socket it left behind does not stop the new one from binding it
// (Verify goes through that socket).
func TestSupervisorRestartsAfterKill(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	old := e.sup.Pid()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	require.Eventually(t, func() bool {
		pid := e.sup.Pid()
		return pid != 0 && pid != old && e.sup.Alive()
	}, 10*time.Second, 20*time.Millisecond, "nginx was not restarted")
	// The orphaned workers were killed; init reaps them shortly after.
	require.Eventually(t, func() bool { return groupGone(old) }, 5*time.Second, 10*time.Millisecond,
		"workers of the killed master were cleaned up")
	e.pgid = e.sup.Pid()
	require.NoError(t, e.drv.Verify(context.Background(), 1))
	e.requireBody(t, "v1")

	// The restarted master reloads like the first one.
	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	e.requireBody(t, "v2")
}

func TestSupervisorStop(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t)
	e.start(t)
	pgid := e.sup.Pid()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.sup.Stop(ctx))
	select {
	case <-e.sup.Done():
	default:
		t.Fatal("Done not closed after Stop returned")
	}
	require.True(t, groupGone(pgid), "no nginx process of this test remains")
	require.False(t, e.sup.Alive())
	require.Zero(t, e.sup.Pid())
	require.ErrorIs(t, e.sup.Signal(syscall.SIGHUP), ErrNotRunning)
	require.NoError(t, e.sup.Stop(ctx), "Stop is idempotent")
	require.Error(t, e.sup.Start(), "a stopped supervisor does not start again")

	// Apply against a stopped nginx writes and tests only.
	res, err := e.drv.Apply(ctx, e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	require.False(t, res.Signalled)

	// A plain loop: require.Eventually runs the condition in goroutines of
	// its own, which would be counted.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines leaked: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestSupervisorStopBeforeStart(t *testing.T) {
	s := NewSupervisor(Options{ConfigPath: "/nonexistent"}, nil, nil)
	require.NoError(t, s.Stop(context.Background()))
	<-s.Done()
	require.Error(t, s.Start())
}

func TestSupervisorStartFails(t *testing.T) {
	s := NewSupervisor(Options{Binary: filepath.Join(t.TempDir(), "no-nginx"), ConfigPath: "/nonexistent"}, nil, nil)
	require.Error(t, s.Start())
	<-s.Done()
	require.NoError(t, s.Stop(context.Background()))
}

// TestRequestsSurviveReloads sends 200 requests spread over 20 reloads; every
// one must get a 200. Half use keep-alive connections, which old workers
// close while they drain, half use fresh connections.
func TestRequestsSurviveReloads(t *testing.T) {
	const reloads, requests = 20, 200
	e := newEnv(t)
	e.start(t)

	var applied atomic.Int64 // reloads begun so far
	keepAlive := &http.Client{Timeout: 5 * time.Second}
	defer keepAlive.CloseIdleConnections()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(e.port) + "/"

	var wg sync.WaitGroup
	var failures []string
	var mu sync.Mutex
	wg.Go(func() {
		deadline := time.Now().Add(60 * time.Second)
		for i := range requests {
			// Request i waits until reload i/10 has begun, so the requests
			// are spread across all reloads instead of bunching up.
			for applied.Load() <= int64(i*reloads/requests) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			c := keepAlive
			if i%2 == 1 {
				c = fresh
			}
			resp, err := c.Get(url)
			var msg string
			if err != nil {
				msg = err.Error()
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					msg = resp.Status
				}
			}
			if msg != "" {
				mu.Lock()
				failures = append(failures, msg)
				mu.Unlock()
			}
		}
	})

	var total time.Duration
	for i := range reloads {
		gen := uint64(i + 2)
		applied.Add(1)
		res, err := e.drv.Apply(context.Background(), e.conf(gen, ""), nil, gen)
		require.NoError(t, err)
		total += res.Reload
	}
	wg.Wait()
	t.Logf("%d reloads, mean reload %v", reloads, total/reloads)
	require.Empty(t, failures)
	e.requireBody(t, "v21")
}

func TestTestErrorMessages(t *testing.T) {
	err := error(&TestError{Path: "/x", Output: "nginx: [emerg] bad in /x:3", Err: errors.New("exit status 1")})
	require.Equal(t, "nginx -t failed: nginx: [emerg] bad in /x:3", err.Error())
	err = &TestError{Path: "/x", Err: errors.New("exit status 1")}
	require.True(t, strings.Contains(err.Error(), "exit status 1"))
}

// TestApplyChangeTestsTheCopy: nginx -t runs on the copy, which decides;
// the copy never stays behind, and the live file is the real config.
func TestApplyChangeTestsTheCopy(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	before, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)

	// A broken copy refuses the config, whatever the config says.
	_, err = e.drv.ApplyChange(context.Background(), Change{Conf: e.conf(3, ""), Check: e.conf(3, "bogus_directive on;"), Generation: 3})
	var testErr *TestError
	require.ErrorAs(t, err, &testErr)
	assert.Contains(t, err.Error(), ".nginx.conf.3.check:", "nginx names the copy's file:line")
	after, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)
	assert.Equal(t, before, after, "live file untouched")
	for _, leftover := range []string{".nginx.conf.3.tmp", ".nginx.conf.3.check"} {
		_, err = os.Stat(filepath.Join(e.dir, leftover))
		assert.ErrorIs(t, err, os.ErrNotExist, "%s removed", leftover)
	}

	// A good copy lets the config itself go live.
	res, err := e.drv.ApplyChange(context.Background(), Change{Conf: e.conf(4, ""), Check: e.conf(4, ""), Generation: 4})
	require.NoError(t, err)
	assert.True(t, res.Signalled)
	live, err := os.ReadFile(e.opts.ConfigPath)
	require.NoError(t, err)
	assert.Equal(t, e.conf(4, ""), live)
	_, err = os.Stat(filepath.Join(e.dir, ".nginx.conf.4.check"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the copy is removed after the test")
}

// TestBeforeReloadOnlyAfterTest: the hook runs only for a change nginx -t
// accepted, before nginx is signalled; its error stops the change with the
// live file untouched.
func TestBeforeReloadOnlyAfterTest(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	live := func() []byte {
		b, err := os.ReadFile(e.opts.ConfigPath)
		require.NoError(t, err)
		return b
	}

	ran := 0
	hook := func(context.Context) error { ran++; return nil }
	_, err = e.drv.ApplyChange(context.Background(), Change{Conf: e.conf(3, "bogus_directive on;"), Generation: 3, BeforeReload: hook})
	var testErr *TestError
	require.ErrorAs(t, err, &testErr)
	assert.Zero(t, ran, "no hook for a config nginx -t refused")

	failing := errors.New("push refused")
	_, err = e.drv.ApplyChange(context.Background(), Change{Conf: e.conf(4, ""), Generation: 4,
		BeforeReload: func(context.Context) error { return failing }})
	require.ErrorIs(t, err, failing)
	assert.Equal(t, e.conf(2, ""), live(), "a failed hook leaves the live file")
	_, err = os.Stat(filepath.Join(e.dir, ".nginx.conf.4.tmp"))
	assert.ErrorIs(t, err, os.ErrNotExist, "and no temporary file")

	var servedBefore string
	res, err := e.drv.ApplyChange(context.Background(), Change{Conf: e.conf(5, ""), Generation: 5,
		BeforeReload: func(ctx context.Context) error {
			ran++
			servedBefore, err = e.drv.fetchGeneration(ctx)
			return err
		}})
	require.NoError(t, err)
	assert.True(t, res.Signalled)
	assert.Equal(t, 1, ran)
	assert.Equal(t, "2", servedBefore, "the hook runs while the old generation still serves")
	assert.Equal(t, e.conf(5, ""), live())
}
