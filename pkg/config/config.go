// Package config reads and writes config.yaml (profiles, current profile) and
// resolves each setting with the precedence flag > environment > file > default,
// remembering where every value came from so `config get` can say.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/codesync/codesync-cli/pkg/atomicfile"
)

const (
	DefaultServer  = "https://api.codesync.de"
	DefaultProfile = "default"
	DefaultTimeout = 30 * time.Second
)

// Profile is one entry of `profiles:`. It never holds a secret.
type Profile struct {
	Server     string `yaml:"server,omitempty" mapstructure:"server"`
	User       string `yaml:"user,omitempty" mapstructure:"user"`
	Storage    string `yaml:"storage,omitempty" mapstructure:"storage"`
	Output     string `yaml:"output,omitempty" mapstructure:"output"`
	Timeout    string `yaml:"timeout,omitempty" mapstructure:"timeout"`
	ClientCert string `yaml:"client_cert,omitempty" mapstructure:"client_cert"`
	ClientKey  string `yaml:"client_key,omitempty" mapstructure:"client_key"`
	CACert     string `yaml:"ca_cert,omitempty" mapstructure:"ca_cert"`
	// OAuthIssuer names the authorization server when it is not the server
	// itself (an identity provider on another origin).
	OAuthIssuer string `yaml:"oauth_issuer,omitempty" mapstructure:"oauth_issuer"`
}

// File is the content of config.yaml.
type File struct {
	CurrentProfile string              `yaml:"current_profile,omitempty" mapstructure:"current_profile"`
	Profiles       map[string]*Profile `yaml:"profiles,omitempty" mapstructure:"profiles"`

	path string
}

// Path returns where the file lives (or would live).
func (f *File) Path() string { return f.path }

// Dir returns the folder of config.yaml, credentials.json and lock files.
func (f *File) Dir() string { return filepath.Dir(f.path) }

// FindPath applies the search order of docs/config.md: --config, then
// CODESYNC_CONFIG_DIR, then XDG_CONFIG_HOME, then the platform's folder
// (~/.config/codesync; %AppData%\codesync on Windows).
func FindPath(flagPath string, getenv func(string) string) (string, error) {
	return findPath(flagPath, getenv, runtime.GOOS)
}

func findPath(flagPath string, getenv func(string) string, goos string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if d := getenv("CODESYNC_CONFIG_DIR"); d != "" {
		return filepath.Join(d, "config.yaml"), nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "codesync", "config.yaml"), nil
	}
	// Windows users look for settings in %AppData% (what os.UserConfigDir
	// returns there), not in a dot-folder of their profile.
	if goos == "windows" {
		if d := getenv("AppData"); d != "" {
			return filepath.Join(d, "codesync", "config.yaml"), nil
		}
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a config folder: set CODESYNC_CONFIG_DIR")
		}
		home = h
	}
	return filepath.Join(home, ".config", "codesync", "config.yaml"), nil
}

// Load reads path; a missing file is an empty config, not an error.
func Load(path string) (*File, error) {
	f := &File{path: path, Profiles: map[string]*Profile{}}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("cannot read config file %s: %s", path, firstLine(err.Error()))
	}
	if err := v.Unmarshal(f); err != nil {
		return nil, fmt.Errorf("config file %s is malformed: %s", path, firstLine(err.Error()))
	}
	if f.Profiles == nil {
		f.Profiles = map[string]*Profile{}
	}
	for name, p := range f.Profiles {
		if p == nil {
			f.Profiles[name] = &Profile{}
		}
	}
	return f, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Save writes the file atomically with mode 0600 in a 0700 folder.
func (f *File) Save() error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.path, data, 0o600)
}

// Profile returns the named profile, creating it in memory when absent.
func (f *File) Profile(name string) *Profile {
	p, ok := f.Profiles[name]
	if !ok || p == nil {
		p = &Profile{}
		f.Profiles[name] = p
	}
	return p
}

// Source says where an effective value came from.
type Source string

const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceFile    Source = "config"
	SourceDefault Source = "default"
)

// Value is one resolved setting.
type Value struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source Source `json:"source"`
}

// Flags are the global flags the person set (empty = not set).
type Flags struct {
	Server, Profile, Output, Timeout, ClientCert, ClientKey, CACert string
}

// Keys lists the settings `config get|set|list` know, in display order.
var Keys = []string{"current_profile", "server", "user", "storage", "output", "timeout", "client_cert", "client_key", "ca_cert", "oauth_issuer"}

type keyDef struct {
	env  string
	def  string
	flag func(Flags) string
	file func(*Profile) *string
}

func keyDefs() map[string]keyDef {
	return map[string]keyDef{
		"server":       {env: "CODESYNC_SERVER", def: DefaultServer, flag: func(f Flags) string { return f.Server }, file: func(p *Profile) *string { return &p.Server }},
		"user":         {file: func(p *Profile) *string { return &p.User }},
		"storage":      {env: "CODESYNC_KEYRING", def: "keyring", file: func(p *Profile) *string { return &p.Storage }},
		"output":       {def: "table", flag: func(f Flags) string { return f.Output }, file: func(p *Profile) *string { return &p.Output }},
		"timeout":      {def: DefaultTimeout.String(), flag: func(f Flags) string { return f.Timeout }, file: func(p *Profile) *string { return &p.Timeout }},
		"client_cert":  {flag: func(f Flags) string { return f.ClientCert }, file: func(p *Profile) *string { return &p.ClientCert }},
		"client_key":   {flag: func(f Flags) string { return f.ClientKey }, file: func(p *Profile) *string { return &p.ClientKey }},
		"ca_cert":      {flag: func(f Flags) string { return f.CACert }, file: func(p *Profile) *string { return &p.CACert }},
		"oauth_issuer": {file: func(p *Profile) *string { return &p.OAuthIssuer }},
	}
}

// Effective is the resolved configuration of one invocation.
type Effective struct {
	File    *File
	Profile Value
	values  map[string]Value
}

// Resolve applies flag > env > file > default to every key.
func Resolve(f *File, flags Flags, getenv func(string) string) (*Effective, error) {
	e := &Effective{File: f, values: map[string]Value{}}
	switch {
	case flags.Profile != "":
		e.Profile = Value{"current_profile", flags.Profile, SourceFlag}
	case getenv("CODESYNC_PROFILE") != "":
		e.Profile = Value{"current_profile", getenv("CODESYNC_PROFILE"), SourceEnv}
	case f.CurrentProfile != "":
		e.Profile = Value{"current_profile", f.CurrentProfile, SourceFile}
	default:
		e.Profile = Value{"current_profile", DefaultProfile, SourceDefault}
	}
	if err := ValidProfileName(e.Profile.Value); err != nil {
		return nil, err
	}
	prof := f.Profiles[e.Profile.Value]
	for key, d := range keyDefs() {
		v := Value{Key: key, Value: d.def, Source: SourceDefault}
		if prof != nil {
			if s := *d.file(prof); s != "" {
				v = Value{key, s, SourceFile}
			}
		}
		if d.env != "" && getenv(d.env) != "" {
			v = Value{key, getenv(d.env), SourceEnv}
		}
		if d.flag != nil && d.flag(flags) != "" {
			v = Value{key, d.flag(flags), SourceFlag}
		}
		e.values[key] = v
	}
	// CODESYNC_KEYRING says system|file; the file says keyring|file.
	if s := e.values["storage"]; s.Value == "system" {
		s.Value = "keyring"
		e.values["storage"] = s
	}
	if s := e.values["storage"].Value; s != "keyring" && s != "file" {
		return nil, fmt.Errorf("invalid storage %q: use keyring (CODESYNC_KEYRING=system) or file", s)
	}
	if _, err := e.Timeout(); err != nil {
		return nil, err
	}
	return e, nil
}

// Get returns the effective value of key.
func (e *Effective) Get(key string) (Value, bool) {
	if key == "current_profile" || key == "profile" {
		return e.Profile, true
	}
	v, ok := e.values[key]
	return v, ok
}

func (e *Effective) str(key string) string { return e.values[key].Value }

func (e *Effective) ProfileName() string { return e.Profile.Value }
func (e *Effective) Server() string      { return strings.TrimRight(e.str("server"), "/") }
func (e *Effective) User() string        { return e.str("user") }
func (e *Effective) Storage() string     { return e.str("storage") }
func (e *Effective) Output() string      { return e.str("output") }
func (e *Effective) ClientCert() string  { return e.str("client_cert") }
func (e *Effective) ClientKey() string   { return e.str("client_key") }
func (e *Effective) CACert() string      { return e.str("ca_cert") }

// OAuthIssuer is the authorization server the profile names; "" means the
// server itself.
func (e *Effective) OAuthIssuer() string { return e.str("oauth_issuer") }

// Timeout parses the per-request timeout.
func (e *Effective) Timeout() (time.Duration, error) {
	d, err := time.ParseDuration(e.str("timeout"))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid timeout %q: use a Go duration such as 30s", e.str("timeout"))
	}
	return d, nil
}

// List returns every key's effective value in display order.
func (e *Effective) List() []Value {
	out := []Value{e.Profile}
	for _, k := range Keys[1:] {
		out = append(out, e.values[k])
	}
	return out
}

// Set stores value for key in the file (under the current profile for profile
// keys). The caller saves.
func (e *Effective) Set(key, value string) error {
	if key == "current_profile" || key == "profile" {
		if err := ValidProfileName(value); err != nil {
			return err
		}
		e.File.CurrentProfile = value
		return nil
	}
	d, ok := keyDefs()[key]
	if !ok {
		return fmt.Errorf("unknown config key %q: known keys are %s", key, strings.Join(Keys, ", "))
	}
	switch key {
	case "storage":
		if value != "keyring" && value != "file" {
			return fmt.Errorf("invalid storage %q: use keyring or file", value)
		}
	case "output":
		if value != "table" && value != "json" {
			return fmt.Errorf("invalid output %q: use table or json", value)
		}
	case "timeout":
		if d, err := time.ParseDuration(value); err != nil || d <= 0 {
			return fmt.Errorf("invalid timeout %q: use a Go duration such as 30s", value)
		}
	case "oauth_issuer":
		u, err := url.Parse(value)
		if value != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
			return fmt.Errorf("invalid oauth_issuer %q: use the issuer URL, https://HOST[/PATH] (no query, no fragment)", value)
		}
	}
	*d.file(e.File.Profile(e.ProfileName())) = value
	return nil
}

// KnownKey reports whether key is a config key.
func KnownKey(key string) bool {
	if key == "profile" {
		return true
	}
	for _, k := range Keys {
		if k == key {
			return true
		}
	}
	return false
}

// ProfileNames lists profiles in the file, sorted.
func (f *File) ProfileNames() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidProfileName keeps profile names usable in file names and keyring users.
func ValidProfileName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("invalid profile name %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("invalid profile name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("invalid profile name %q", name)
	}
	return nil
}
