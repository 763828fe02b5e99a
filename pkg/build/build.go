// Package build reports the version of this binary: set by ldflags in
// releases, else read from the module's build info.
package build

import (
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/codesync/codesync-cli/pkg/build.Version=…".
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is the resolved version triple.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Get resolves Info, falling back to debug.ReadBuildInfo.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" && len(s.Value) >= 7 {
					i.Commit = s.Value[:7]
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = "none"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}
