// Package releasetargets reads the GOOS/GOARCH pairs a GoReleaser v2
// configuration builds, so the cross-build check (scripts/cross-build.sh)
// covers every release target without being edited when one is added.
package releasetargets

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Target is one platform a release binary is built for.
type Target struct{ GOOS, GOARCH string }

func (t Target) String() string { return t.GOOS + "/" + t.GOARCH }

type ignore struct {
	GOOS   string `yaml:"goos"`
	GOARCH string `yaml:"goarch"`
}

type config struct {
	Builds []struct {
		ID      string   `yaml:"id"`
		Skip    bool     `yaml:"skip"`
		GOOS    []string `yaml:"goos"`
		GOARCH  []string `yaml:"goarch"`
		Ignore  []ignore `yaml:"ignore"`
		Targets []string `yaml:"targets"`
	} `yaml:"builds"`
}

// Parse returns the targets of every build of a .goreleaser.yaml, sorted and
// without duplicates. A build must name its goos and goarch (or targets):
// GoReleaser's defaults change between versions, and a check that guessed
// them could cover the wrong set.
func Parse(data []byte) ([]Target, error) {
	var c config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	if len(c.Builds) == 0 {
		return nil, fmt.Errorf("no builds in the configuration")
	}
	var out []Target
	for i, b := range c.Builds {
		if b.Skip {
			continue
		}
		if len(b.Targets) > 0 {
			for _, s := range b.Targets {
				// GoReleaser's form: linux_amd64, linux_amd64_v1, linux_arm_7
				goos, rest, ok := strings.Cut(s, "_")
				arch, _, _ := strings.Cut(rest, "_")
				if !ok || goos == "" || arch == "" {
					return nil, fmt.Errorf("build %d (%s): target %q is not GOOS_GOARCH", i+1, b.ID, s)
				}
				out = append(out, Target{goos, arch})
			}
			continue
		}
		if len(b.GOOS) == 0 || len(b.GOARCH) == 0 {
			return nil, fmt.Errorf("build %d (%s): state goos and goarch explicitly", i+1, b.ID)
		}
		for _, goos := range b.GOOS {
			for _, arch := range b.GOARCH {
				if !slices.ContainsFunc(b.Ignore, func(ig ignore) bool {
					return (ig.GOOS == "" || ig.GOOS == goos) && (ig.GOARCH == "" || ig.GOARCH == arch)
				}) {
					out = append(out, Target{goos, arch})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.GOOS, b.GOOS), cmp.Compare(a.GOARCH, b.GOARCH))
	})
	return slices.Compact(out), nil
}
