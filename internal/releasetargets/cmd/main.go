// Command releasetargets prints the GOOS/GOARCH pairs of a .goreleaser.yaml,
// one "goos/goarch" a line, for scripts/cross-build.sh.
package main

import (
	"fmt"
	"os"

	"github.com/codesync/codesync-cli/internal/releasetargets"
)

func main() {
	path := ".goreleaser.yaml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	targets, err := releasetargets.Parse(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		os.Exit(1)
	}
	for _, t := range targets {
		fmt.Println(t)
	}
}
