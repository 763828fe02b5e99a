package releasetargets

import (
	"os"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	cfg := `
builds:
  - id: a
    goos: [linux, windows, darwin]
    goarch: [amd64, arm64]
    ignore:
      - goos: darwin
        goarch: amd64
  - id: b
    targets: [freebsd_amd64_v1, linux_arm_7, linux_amd64]
  - id: skipped
    skip: true
    goos: [plan9]
    goarch: [386]
`
	got, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{"darwin", "arm64"}, {"freebsd", "amd64"}, {"linux", "amd64"}, {"linux", "arm"}, {"linux", "arm64"}, {"windows", "amd64"}, {"windows", "arm64"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParseRefusesGuesses(t *testing.T) {
	for _, cfg := range []string{
		"builds: []",
		"builds:\n  - id: x\n    goos: [linux]\n",
		"builds:\n  - targets: [linux]\n",
		"builds: [",
	} {
		if _, err := Parse([]byte(cfg)); err == nil {
			t.Errorf("accepted %q", cfg)
		}
	}
}

// The repository's own configuration: every platform a user downloads.
func TestRepositoryConfig(t *testing.T) {
	data, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []Target{{"linux", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}} {
		if !slices.Contains(got, w) {
			t.Errorf("%v missing from %v", w, got)
		}
	}
}
