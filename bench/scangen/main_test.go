package main

import (
	"context"
	"testing"

	"github.com/codesync/codesync-cli/pkg/scan"
)

// The benchmark's tree, small: the scanner finds exactly the planted keys
// and none of the look-alikes. (Timings belong to `make bench`, not here.)
func TestGeneratedTreeFindsPlantedKeys(t *testing.T) {
	dir := t.TempDir()
	files, written, planted, err := generate(dir, 2<<20, 16<<10, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	if files != 128 || written < 1<<20 || planted != 7 {
		t.Fatalf("%d files, %d bytes, %d tokens", files, written, planted)
	}
	s := scan.New(scan.Options{Warn: func(m string) { t.Error(m) }})
	if err := s.ScanPaths(context.Background(), []string{dir}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Findings()); n != planted {
		t.Fatalf("found %d, planted %d", n, planted)
	}
}
