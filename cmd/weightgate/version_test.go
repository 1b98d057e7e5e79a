package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// builtBinary builds weightgate once for the tests that run the binary
// itself (signals, build information); removed by TestMain's cleanup.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "weightgate-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "weightgate")
		// -buildvcs=auto is go build's default, stated because a GOFLAGS
		// of -buildvcs=false (some CI images set it) would leave the
		// revision out of the binary.
		built.out, built.err = exec.Command("go", "build", "-buildvcs=auto", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

func TestMain(m *testing.M) {
	// `audit query` keeps its default index under the user's cache
	// directory: the tests' go to a directory of their own.
	cache, err := os.MkdirTemp("", "weightgate-test-cache-")
	if err != nil {
		panic(err)
	}
	indexCacheDir = func() (string, error) { return cache, nil }
	// And so does anything the tests run in a process of their own (the
	// built binary): never the user's cache, which may be shared or
	// read-only on a CI runner.
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func TestReadBuildVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want []string
	}{
		{name: "no build info", want: []string{"weightgate unknown\n", "revision: unknown (built without VCS information)\n"}},
		{name: "release", ok: true, bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			want: []string{"weightgate v1.4.0\n", "revision: 0123abcd\n", "committed: 2026-12-01T10:00:00Z\n", "go: go1.26.8\n"}},
		{name: "dirty tree", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			want: []string{"weightgate (devel)\n", "revision: 0123abcd (modified: built from a tree with uncommitted changes)\n"}},
		{name: "no vcs", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			want: []string{"weightgate v1.4.0\n", "revision: unknown (built without VCS information)\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			readBuildVersion(tc.bi, tc.ok).write(&b)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestVersionFromBuild builds the binary with a plain go build (no linker
// flags) and checks that `weightgate version` names the revision git says
// the tree is at, and whether it has uncommitted changes.
func TestVersionFromBuild(t *testing.T) {
	bin := builtBinary(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("weightgate version: %v\n%s", err, out)
	}
	// What go build embedded, read by the toolchain itself: outside a git
	// checkout (a source archive), and in some set-ups such as a linked
	// git worktree, it embeds no VCS information, and the command must say
	// so rather than invent one.
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	rev, gitErr := exec.Command("git", "rev-parse", "HEAD").Output()
	if gitErr != nil || !bytes.Contains(info, []byte("vcs.revision=")) {
		if !bytes.Contains(out, []byte("revision: unknown")) {
			t.Fatalf("the binary has no VCS information (git: %v), yet version says:\n%s", gitErr, out)
		}
		return
	}
	status, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	full := strings.TrimSpace(string(rev))
	want := "revision: " + full
	if len(bytes.TrimSpace(status)) > 0 {
		want += " (modified"
	} else {
		want += "\n"
	}
	if !strings.Contains(string(out), want) {
		t.Fatalf("weightgate version:\n%s\nwant a line %q", out, want)
	}
	// The module version go derives from the VCS: a tag, or a
	// pseudo-version ending in the revision's first 12 digits.
	first, _, _ := strings.Cut(string(out), "\n")
	if mod, ok := strings.CutPrefix(first, "weightgate "); !ok || !(strings.HasPrefix(mod, "v") && (strings.Contains(mod, full[:12]) || !strings.Contains(mod, "-"))) {
		t.Errorf("first line %q: want weightgate and a module version of revision %s", first, full[:12])
	}
}
