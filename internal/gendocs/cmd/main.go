// Command gendocs regenerates completions/, docs/man/ and docs/reference/:
// go run ./internal/gendocs/cmd (make generate).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/codesync/codesync-cli/cmd/root"
	"github.com/codesync/codesync-cli/internal/gendocs"
	"github.com/codesync/codesync-cli/pkg/factory"
	"github.com/codesync/codesync-cli/pkg/iostreams"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	ios, _, _, _ := iostreams.Test()
	f := factory.New(context.Background(), "dev", ios, func(string) string { return "" })
	if err := gendocs.Generate(root.NewCmdRoot(f), dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
