package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// buildVersion describes the binary from the build information the Go
// toolchain embeds (module version, VCS revision and time, whether the tree
// was modified), so that no linker flag is needed and a binary cannot claim
// a revision it was not built from.
type buildVersion struct {
	Module   string // "(devel)" for a build inside the module's own tree
	Revision string // "" when built without VCS information
	Time     string
	Modified bool
	Go       string
}

func readBuildVersion(bi *debug.BuildInfo, ok bool) buildVersion {
	if !ok || bi == nil {
		return buildVersion{Module: "unknown"}
	}
	v := buildVersion{Module: bi.Main.Version, Go: bi.GoVersion}
	if v.Module == "" {
		v.Module = "unknown"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v buildVersion) write(w io.Writer) {
	fmt.Fprintln(w, "weightgate", v.Module)
	switch {
	case v.Revision == "":
		fmt.Fprintln(w, "revision: unknown (built without VCS information)")
	case v.Modified:
		fmt.Fprintln(w, "revision:", v.Revision, "(modified: built from a tree with uncommitted changes)")
	default:
		fmt.Fprintln(w, "revision:", v.Revision)
	}
	if v.Time != "" {
		fmt.Fprintln(w, "committed:", v.Time)
	}
	if v.Go != "" {
		fmt.Fprintln(w, "go:", v.Go)
	}
}

func (m *Main) version(args []string) error {
	fs := m.newFlagSet("version", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	readBuildVersion(debug.ReadBuildInfo()).write(m.Stdout)
	return nil
}
