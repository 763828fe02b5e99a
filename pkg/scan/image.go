package scan

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotImage: --image on something that is neither a `docker save` archive
// nor an OCI image layout.
var ErrNotImage = errors.New("not a container image: expected a `docker save` archive (manifest.json) or an OCI image layout (oci-layout, index.json)")

// ScanImage scans a container image: a `docker save` archive (plain or
// gzip-compressed) or an OCI image layout, as a tar or a folder. Every layer
// is opened and every file in it read, as are the image's configuration
// (environment variables, build history) and manifests. Findings are named
// IMAGE!blobs/sha256/LAYER!path/in/layer (docker's older format:
// IMAGE!ID/layer.tar!path).
func (s *Scanner) ScanImage(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return &PathError{Path: path, Err: err}
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err != nil {
			return &PathError{Path: path, Err: ErrNotImage}
		}
		return s.ScanPaths(ctx, []string{path})
	}
	ok, err := isImageArchive(path)
	if err != nil {
		return &PathError{Path: path, Err: err}
	}
	if !ok {
		return &PathError{Path: path, Err: ErrNotImage}
	}
	f, err := os.Open(path)
	if err != nil {
		return &PathError{Path: path, Err: err}
	}
	defer f.Close()
	return s.scanStream(ctx, path, f, f, fi.Size(), 0)
}

// isImageArchive looks through the tar's headers for manifest.json (docker
// save) or oci-layout / index.json (OCI). An uncompressed tar is skipped
// through with seeks, so this costs little.
func isImageArchive(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	var r io.Reader = f
	switch sniff(head[:n]) {
	case "tar":
	case "gzip":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	default:
		return false, nil
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("damaged tar archive: %w", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json", "oci-layout", "index.json":
			return true, nil
		}
	}
}
