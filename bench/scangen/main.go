// Command scangen writes a source tree of a given size for the scan
// benchmark: nested folders of text files that read like code and
// configuration, with a few real (checksum-valid) tokens, look-alikes with
// bad checksums, and many mentions of the "csy_" prefix, so a scanner has
// candidates to reject. The output is the same for the same -seed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/codesync/codesync-cli/pkg/token"
)

var words = []string{"func", "return", "if", "err", "nil", "package", "import", "const", "var", "type", "struct",
	"config", "server", "client", "token", "request", "response", "context", "string", "int", "error", "value",
	"registry", "publish", "scope", "name", "version", "deploy", "build", "cache", "timeout", "retry", "= ", ":= ",
	"{", "}", "(", ")", "//", "#", "\"https://api.codesync.de\"", "Ä", "é", "0x1f", "42"}

func main() {
	dir := flag.String("dir", "", "folder to create")
	size := flag.Int64("size", 1<<30, "total bytes to write")
	fileSize := flag.Int64("file-size", 64<<10, "average file size")
	tokens := flag.Int("tokens", 20, "real tokens to plant")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: scangen -dir DIR [-size BYTES]")
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(*seed, *seed))
	files := int(*size / *fileSize)
	if files < 1 {
		files = 1
	}
	plantEvery := max(files/max(*tokens, 1), 1)
	var written int64
	planted := 0
	for i := 0; i < files; i++ {
		p := filepath.Join(*dir, fmt.Sprintf("svc%02d", i%37), fmt.Sprintf("pkg%03d", i%211), fmt.Sprintf("mod%d", i%5), fmt.Sprintf("file%06d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fail(err)
		}
		f, err := os.Create(p)
		if err != nil {
			fail(err)
		}
		w := bufio.NewWriterSize(f, 256<<10)
		target := *fileSize/2 + rng.Int64N(*fileSize)
		var n int64
		for n < target {
			line := ""
			for len(line) < 40+rng.IntN(60) {
				line += words[rng.IntN(len(words))] + " "
			}
			switch rng.IntN(1000) {
			case 0:
				// a look-alike: right shape, wrong checksum
				line += "csy_prod_" + token.RandomString(30) + "000000"
			case 1, 2:
				// the prefix alone, as in code that handles keys
				line += `strings.HasPrefix(t, "csy_dev_")`
			}
			m, _ := w.WriteString(line + "\n")
			n += int64(m)
		}
		if i%plantEvery == 0 && planted < *tokens {
			m, _ := fmt.Fprintf(w, "const apiKey = %q\n", token.New([]string{"prod", "dev"}[planted%2]))
			n += int64(m)
			planted++
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		f.Close()
		written += n
	}
	fmt.Fprintf(os.Stderr, "scangen: %d files, %d bytes, %d tokens in %s\n", files, written, planted, *dir)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scangen:", err)
	os.Exit(1)
}
