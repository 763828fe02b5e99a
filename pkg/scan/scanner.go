package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// Sep joins the path of an archive and the path of a member inside it.
const Sep = "!"

// MaxDepth bounds how deep archives inside archives are opened (an image
// tar holding layer tars holding a .tar.gz is depth 3).
const MaxDepth = 6

// maxZipInMemory bounds a zip inside another archive, which has to be read
// into memory to be opened.
const maxZipInMemory = 64 << 20

const chunkSize = 1 << 20

// Options tune a Scanner.
type Options struct {
	// Workers is how many files are read at once (default GOMAXPROCS).
	Workers int
	// Warn receives problems that do not stop the scan (an unreadable file,
	// an unsupported layer compression). Default: ignored.
	Warn func(msg string)
	// Git is the git binary for history scans (default "git").
	Git string
}

// Scanner collects findings from any number of sources; it is safe for
// concurrent use.
type Scanner struct {
	opts     Options
	chunk    int // bytes read at once (tests make it small)
	mu       sync.Mutex
	findings []Finding
	bufs     sync.Pool
}

// New returns a Scanner.
func New(o Options) *Scanner {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if o.Git == "" {
		o.Git = "git"
	}
	return newScanner(o, chunkSize)
}

func newScanner(o Options, chunk int) *Scanner {
	s := &Scanner{opts: o, chunk: chunk}
	s.bufs.New = func() any { b := make([]byte, chunk+maxTokenLen+1); return &b }
	return s
}

// Findings returns what was found, sorted by path, commit, line and column.
func (s *Scanner) Findings() []Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.findings)
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Commit, b.Commit), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	// a file named twice (scan . ./app.env) is reported once
	return slices.Compact(out)
}

func (s *Scanner) add(f Finding) {
	f.Path = maskTokens(f.Path)
	s.mu.Lock()
	s.findings = append(s.findings, f)
	s.mu.Unlock()
}

func (s *Scanner) warn(format string, a ...any) { s.opts.Warn(maskTokens(fmt.Sprintf(format, a...))) }

// ScanReader scans one stream named name (standard input, say). Archives
// and gzip streams are opened.
func (s *Scanner) ScanReader(ctx context.Context, name string, r io.Reader) error {
	return s.scanStream(ctx, name, r, nil, 0, 0)
}

// ScanPaths scans files and directories: directories are walked (skipping
// .git), and files are read with Workers readers at once. A path that does
// not exist is an error; a file that cannot be read inside a walked
// directory is a warning.
func (s *Scanner) ScanPaths(ctx context.Context, paths []string) error {
	paths = slices.Clone(paths)
	roots := make([]fs.FileInfo, len(paths))
	for i, p := range paths {
		paths[i] = filepath.Clean(p)
		fi, err := os.Stat(p) // a path given is followed if it is a link
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		roots[i] = fi
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan string, 256)
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := s.scanFile(ctx, p); err != nil {
					s.warn("%s: %s", p, err)
				}
			}
		}()
	}
	var werr error
	for i, root := range paths {
		if !roots[i].IsDir() {
			if roots[i].Mode().IsRegular() {
				jobs <- root
			} else {
				s.warn("%s: not a regular file, not read", root)
			}
			continue
		}
		walkRoot := root
		if li, err := os.Lstat(root); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			walkRoot = root + string(filepath.Separator) // a link to a folder: walk the folder
		}
		werr = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == walkRoot {
					return err
				}
				s.warn("%s: %s", p, err)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if d.Name() == ".git" && p != walkRoot {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				jobs <- p
			}
			// symbolic links, sockets, devices and FIFOs are not followed
			// or opened (a FIFO would block the scan)
			return nil
		})
		if werr != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if werr != nil {
		return werr
	}
	return ctx.Err()
}

// PathError is a path given to scan that cannot be scanned (a usage error).
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("%s: no such file or directory", e.Path)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Err)
}
func (e *PathError) Unwrap() error { return e.Err }

func (s *Scanner) scanFile(ctx context.Context, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// the walk only hands in regular files; the size is asked for only if
	// the file turns out to be a zip
	return s.scanStream(ctx, p, f, f, -1, 0)
}

// scanStream scans r: text line by line, archives member by member. ra and
// size, when known, let a zip be opened in place.
func (s *Scanner) scanStream(ctx context.Context, name string, r io.Reader, ra io.ReaderAt, size int64, depth int) error {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := (*bp)[:cap(*bp)]
	carry := 0
	pos := position{line: 1}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadAtLeast(r, buf[carry:], min(len(buf)-carry, s.chunk))
		eof := false
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		default:
			return err
		}
		data := buf[:carry+n]
		if first {
			first = false
			if kind := sniff(data); kind != "" && depth < MaxDepth {
				rest := io.MultiReader(bytes.NewReader(data), r)
				if eof {
					rest = bytes.NewReader(data)
				}
				return s.scanArchive(ctx, kind, name, rest, ra, size, depth)
			}
		}
		limit := len(data)
		if !eof {
			limit = max(len(data)-maxTokenLen-1, 0)
		}
		scanChunk(data, limit, &pos, func(f Finding) {
			f.Path = name
			s.add(f)
		})
		if eof {
			return nil
		}
		carry = copy(buf, data[limit:])
	}
}

// sniff recognises archives by their first bytes, not their names: layers
// in an OCI layout are files named by their digest.
func sniff(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return "gzip"
	case len(b) >= 4 && string(b[:4]) == "PK\x03\x04":
		return "zip"
	case len(b) >= 4 && string(b[:4]) == "\x28\xb5\x2f\xfd":
		return "zstd"
	case len(b) >= 512 && string(b[257:262]) == "ustar" && tarChecksumOK(b[:512]):
		return "tar"
	}
	return ""
}

// tarChecksumOK checks a tar header's checksum, so a text file that happens
// to hold "ustar" at byte 257 is still read as text.
func tarChecksumOK(h []byte) bool {
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	field := bytes.TrimRight(bytes.TrimLeft(h[148:156], " "), " \x00")
	var want int64
	if len(field) == 0 {
		return false
	}
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	return sum == want
}

func (s *Scanner) scanArchive(ctx context.Context, kind, name string, r io.Reader, ra io.ReaderAt, size int64, depth int) error {
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			s.warn("%s: not a readable gzip stream: %s", name, err)
			return nil
		}
		defer zr.Close()
		// a .tar.gz keeps its name: its members are name!member
		if err := s.scanStream(ctx, name, zr, nil, 0, depth+1); err != nil && ctx.Err() == nil {
			s.warn("%s: %s", name, err)
		}
		return ctx.Err()
	case "zstd":
		s.warn("%s: zstd-compressed data is not scanned", name)
		return nil
	case "tar":
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				s.warn("%s: damaged tar archive: %s", name, err)
				return nil
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			if err := s.scanStream(ctx, name+Sep+h.Name, tr, nil, 0, depth+1); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.warn("%s%s%s: %s", name, Sep, h.Name, err)
			}
		}
	case "zip":
		if st, ok := ra.(interface{ Stat() (fs.FileInfo, error) }); ok && size < 0 {
			fi, err := st.Stat()
			if err != nil {
				return err
			}
			size = fi.Size()
		}
		if ra == nil {
			b, err := io.ReadAll(io.LimitReader(r, maxZipInMemory+1))
			if err != nil {
				return err
			}
			if len(b) > maxZipInMemory {
				s.warn("%s: a zip inside an archive larger than %d MiB is not scanned", name, maxZipInMemory>>20)
				return nil
			}
			ra, size = bytes.NewReader(b), int64(len(b))
		}
		zr, err := zip.NewReader(ra, size)
		if err != nil {
			s.warn("%s: damaged zip archive: %s", name, err)
			return nil
		}
		for _, zf := range zr.File {
			if !zf.Mode().IsRegular() {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				s.warn("%s%s%s: %s", name, Sep, zf.Name, err)
				continue
			}
			err = s.scanStream(ctx, name+Sep+zf.Name, rc, nil, 0, depth+1)
			rc.Close()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.warn("%s%s%s: %s", name, Sep, zf.Name, err)
			}
		}
		return nil
	}
	return nil
}
