// Package keyrules is the one definition of what a valid API key request is:
// scope names, lifetimes, CIDR allow-lists and namespaces. The CLI checks flags
// with it before any request; the server checks bodies with it again.
package keyrules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scopes are every scope a key or session can hold, in display order.
var Scopes = []string{"registry:read", "registry:publish", "npm:scope:write", "keys:read", "keys:write", "audit:read", "orgs:read", "orgs:write"}

const (
	Day        = 24 * time.Hour
	MinExpiry  = time.Hour
	MaxExpiry  = 365 * Day
	DefExpiry  = 90 * Day
	MaxActive  = 12
	ExpiringIn = 14 * Day // "expiring" status and deprecation notices
)

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool { return slices.Contains(Scopes, s) }

// ParseScopes splits "a,b c" into a sorted, de-duplicated list of known scopes.
func ParseScopes(s string) ([]string, error) {
	return CheckScopes(splitList(s))
}

// CheckScopes validates a list of scopes; it returns them sorted and unique.
func CheckScopes(list []string) ([]string, error) {
	var out []string
	for _, sc := range list {
		if !ValidScope(sc) {
			return nil, fmt.Errorf("invalid scope %q: valid scopes are %s", sc, strings.Join(Scopes, ", "))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one scope is needed: valid scopes are %s", strings.Join(Scopes, ", "))
	}
	slices.Sort(out)
	return out, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// ParseDuration reads Nh, Nd, Nw or a Go duration ("90d", "36h", "1h30m").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n >= 2 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.ParseInt(s[:n-1], 10, 32)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("invalid duration %q: use Nh, Nd, Nw or a Go duration such as 36h", s)
		}
		unit := Day
		if s[n-1] == 'w' {
			unit = 7 * Day
		}
		return time.Duration(v) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Nh, Nd, Nw or a Go duration such as 36h", s)
	}
	return d, nil
}

// ParseExpiry reads a key lifetime and checks it lies in 1h..365d.
func ParseExpiry(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if err := CheckExpiry(d); err != nil {
		return 0, fmt.Errorf("invalid expiry %q: %s", s, err)
	}
	return d, nil
}

// CheckExpiry: 1h..365d.
func CheckExpiry(d time.Duration) error {
	if d < MinExpiry || d > MaxExpiry {
		return fmt.Errorf("a key lives from 1h to 365d")
	}
	return nil
}

// ParseCIDRs reads a comma-separated list of IPv4/IPv6 networks. A bare
// address means that one host. Networks are normalised (host bits cleared).
func ParseCIDRs(s string) ([]string, error) {
	return CheckCIDRs(splitList(s))
}

// CheckCIDRs validates and normalises a list of networks.
func CheckCIDRs(list []string) ([]string, error) {
	out := []string{}
	for _, c := range list {
		p, err := ParseCIDR(c)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out, nil
}

// ParseCIDR reads one network or address.
func ParseCIDR(c string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(c); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(c); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: use a network such as 203.0.113.0/24 or 2001:db8::/32", c)
}

// AllowedFrom reports whether addr lies in one of cidrs (empty = anywhere).
func AllowedFrom(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// npmName checks one part of a scoped name: lower case letters, digits and
// . _ -, starting with a letter or digit, at most max characters. Written out
// rather than as a regexp: compiling the bounded repetitions cost half a
// millisecond at every start of the CLI.
func npmName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// validNamespace: @scope, @scope/name or @scope/*.
func validNamespace(n string) bool {
	if !strings.HasPrefix(n, "@") {
		return false
	}
	scope, name, hasName := strings.Cut(n[1:], "/")
	if !npmName(scope, 64) {
		return false
	}
	return !hasName || name == "*" || npmName(name, 128)
}

// ParseNamespaces reads "@org,@org/name,@org/*".
func ParseNamespaces(s string) ([]string, error) {
	return CheckNamespaces(splitList(s))
}

// CheckNamespaces validates namespaces: @scope (any package of the scope),
// @scope/* (the same), or @scope/name (that package).
func CheckNamespaces(list []string) ([]string, error) {
	out := []string{}
	for _, n := range list {
		if !validNamespace(n) {
			return nil, fmt.Errorf("invalid namespace %q: use @scope or @scope/name (lower case)", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// ValidPackage reports whether name is a scoped package name @scope/name.
func ValidPackage(name string) bool {
	return validNamespace(name) && strings.Contains(name, "/") && !strings.HasSuffix(name, "/*")
}

// NamespaceAllows reports whether a key limited to namespaces may publish pkg.
// No namespaces means no limit.
func NamespaceAllows(namespaces []string, pkg string) bool {
	if len(namespaces) == 0 {
		return true
	}
	scope, _, _ := strings.Cut(pkg, "/")
	for _, n := range namespaces {
		if n == pkg || n == scope || n == scope+"/*" {
			return true
		}
	}
	return false
}

// ParseTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use a date (2026-10-01) or an RFC 3339 time", s)
}

// ParseSince reads what --since takes: a time as ParseTime does, or a
// duration back from now (30d, 12h).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := ParseTime(s); err == nil {
		return t, nil
	}
	if d, err := ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %q: use a date (2026-10-01), an RFC 3339 time, or a duration such as 30d", s)
}
