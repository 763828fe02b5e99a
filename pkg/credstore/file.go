package credstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/codesync/codesync-cli/pkg/atomicfile"
)

// File is the plaintext fallback: credentials.json, mode 0600, in a 0700
// folder, replaced atomically under a lock so concurrent writers lose nothing.
type File struct {
	Path string
}

func (f *File) Kind() string { return "file" }

type fileData struct {
	Version     int               `json:"version"`
	Credentials map[string]string `json:"credentials"`
}

func (f *File) read() (*fileData, error) {
	d := &fileData{Version: 1, Credentials: map[string]string{}}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("%s is malformed; remove it and log in again", f.Path)
	}
	if d.Credentials == nil {
		d.Credentials = map[string]string{}
	}
	return d, nil
}

func (f *File) Get(account string) (string, error) {
	d, err := f.read()
	if err != nil {
		return "", err
	}
	s, ok := d.Credentials[account]
	if !ok {
		return "", ErrNotFound
	}
	return s, nil
}

func (f *File) update(fn func(*fileData) error) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	lock := flock.New(f.Path + ".lock")
	if err := lock.Lock(); err != nil {
		return err
	}
	defer lock.Unlock()
	d, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(d); err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.Path, b, 0o600)
}

func (f *File) Set(account, secret string) error {
	return f.update(func(d *fileData) error {
		d.Credentials[account] = secret
		return nil
	})
}

func (f *File) Delete(account string) error {
	return f.update(func(d *fileData) error {
		if _, ok := d.Credentials[account]; !ok {
			return ErrNotFound
		}
		delete(d.Credentials, account)
		return nil
	})
}
