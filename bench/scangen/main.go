// Command scangen writes a source tree of a given size for the scan
// benchmark: nested folders of text files that read like code and
// configuration, with a few real (checksum-valid) tokens, look-alikes with
// bad checksums, and many mentions of the "csy_" prefix, so a scanner has
// candidates to reject. The layout and text are the same for the same -seed;
// the tokens are new each run.
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
	files, written, planted, err := generate(*dir, *size, *fileSize, *tokens, *seed)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "scangen: %d files, %d bytes, %d tokens in %s\n", files, written, planted, *dir)
}

// generate writes the tree and says how many files, bytes and real tokens
// it wrote.
func generate(dir string, size, fileSize int64, tokens int, seed uint64) (files int, written int64, planted int, err error) {
	rng := rand.New(rand.NewPCG(seed, seed))
	files = int(size / fileSize)
	if files < 1 {
		files = 1
	}
	plantEvery := max(files/max(tokens, 1), 1)
	for i := 0; i < files; i++ {
		p := filepath.Join(dir, fmt.Sprintf("svc%02d", i%37), fmt.Sprintf("pkg%03d", i%211), fmt.Sprintf("mod%d", i%5), fmt.Sprintf("file%06d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, 0, 0, err
		}
		f, err := os.Create(p)
		if err != nil {
			return 0, 0, 0, err
		}
		w := bufio.NewWriterSize(f, 256<<10)
		target := fileSize/2 + rng.Int64N(fileSize)
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
		if i%plantEvery == 0 && planted < tokens {
			m, _ := fmt.Fprintf(w, "const apiKey = %q\n", token.New([]string{"prod", "dev"}[planted%2]))
			n += int64(m)
			planted++
		}
		if err := w.Flush(); err != nil {
			return 0, 0, 0, err
		}
		f.Close()
		written += n
	}
	return files, written, planted, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scangen:", err)
	os.Exit(1)
}
