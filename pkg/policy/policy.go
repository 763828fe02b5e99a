// Package policy is the one rule of least privilege: whatever a request
// creates, replays or reaches stays inside the ceiling of the credential that
// asked. Key creation, rotation, JWT key registration and JWT verification all
// call Apply; organizations add their own limits as extra Rules to the same
// call.
package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
)

// Environments (the same strings as model.EnvProduction and model.EnvSandbox).
const (
	EnvProduction = "production"
	EnvSandbox    = "sandbox"
)

// Error codes of a refusal.
const (
	CodeInsufficientScope = "insufficient_scope" // more than the caller has
	CodePolicyViolation   = "policy_violation"   // breaks an organization's policy
)

// Ceiling is everything that limits a credential.
type Ceiling struct {
	Owner       int64    // the user the credential acts for
	Scopes      []string // what it may do
	Namespaces  []string // package scopes it may publish to; empty: any
	CIDRs       []string // networks it may be used from; empty: anywhere
	Environment string   // production or sandbox (and so its rate class)
	// ExpiresAt is when the credential ends. Zero: it sets no bound of its
	// own (a person's OAuth session); the account's bound, MaxLife from now,
	// applies.
	ExpiresAt time.Time
}

// Grant is what a credential is given: the result of Apply.
type Grant struct {
	Owner       int64
	Scopes      []string
	Namespaces  []string
	CIDRs       []string
	Environment string
	ExpiresAt   time.Time
}

// Request is what a create, rotate, registration or token asks for. A field
// left unset inherits the ceiling's value: nil Namespaces or CIDRs, ""
// Environment, zero ExpiresAt (then DefaultLife from Now, cut at the
// ceiling), zero Owner. An empty but non-nil Namespaces or CIDRs asks for "no
// limit", which only a ceiling without that limit can give.
type Request struct {
	Grant
	Now         time.Time
	DefaultLife time.Duration // when ExpiresAt is zero (0: keyrules.DefExpiry)
	// Narrow intersects instead of refusing: a JWT's claims are cut down to
	// the ceiling recorded with its signing key, never refused for asking
	// too much.
	Narrow bool
}

// MaxLife is the longest any grant lives (the account's bound).
const MaxLife = keyrules.MaxExpiry

// Error is a refusal that names the limit it hit.
type Error struct {
	Code  string // CodeInsufficientScope or CodePolicyViolation
	Limit string // owner, scopes, namespaces, cidrs, environment, expiry, or a policy's name
	Msg   string
	// Missing lists the scopes asked for beyond the ceiling (Limit "scopes").
	Missing []string
}

func (e *Error) Error() string { return e.Msg }

func refuse(limit, format string, a ...any) *Error {
	return &Error{Code: CodeInsufficientScope, Limit: limit, Msg: fmt.Sprintf(format, a...)}
}

// Rule is a further limit on top of the caller's ceiling, such as an
// organization's policy. It sees the grant the ceiling allows and returns it,
// narrowed if it likes (when narrow is set), or a refusal (an *Error with
// CodePolicyViolation).
type Rule interface {
	Bound(c Ceiling, g Grant, narrow bool) (Grant, error)
}

// RuleFunc adapts a function to Rule.
type RuleFunc func(c Ceiling, g Grant, narrow bool) (Grant, error)

// Bound calls f.
func (f RuleFunc) Bound(c Ceiling, g Grant, narrow bool) (Grant, error) { return f(c, g, narrow) }

// Apply bounds the request r by the ceiling c, then by every rule: it returns
// the grant to give, or an *Error naming the first limit that r exceeds.
func Apply(c Ceiling, r Request, rules ...Rule) (Grant, error) {
	g, err := apply(c, r)
	if err != nil {
		return Grant{}, err
	}
	for _, rule := range rules {
		if rule == nil {
			continue
		}
		if g, err = rule.Bound(c, g, r.Narrow); err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

func apply(c Ceiling, r Request) (Grant, error) {
	var g Grant
	// owner: a credential acts for its own user only
	switch {
	case r.Owner == 0 || r.Owner == c.Owner:
		g.Owner = c.Owner
	default:
		return Grant{}, refuse("owner", "a credential can create only for its own user")
	}

	// scopes: a subset of the caller's
	var missing []string
	for _, s := range r.Scopes {
		if slices.Contains(c.Scopes, s) {
			if !slices.Contains(g.Scopes, s) {
				g.Scopes = append(g.Scopes, s)
			}
		} else {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 && !r.Narrow {
		e := refuse("scopes", "a key cannot be granted scopes its creator lacks: %s", strings.Join(missing, ", "))
		e.Missing = missing
		return Grant{}, e
	}
	if g.Scopes == nil {
		g.Scopes = []string{}
	}
	slices.Sort(g.Scopes)

	// namespaces: inside the caller's, when it has any
	var err error
	if g.Namespaces, err = boundNamespaces(c.Namespaces, r.Namespaces, r.Narrow); err != nil {
		return Grant{}, err
	}
	// CIDRs: inside the caller's networks, when it has any
	if g.CIDRs, err = boundCIDRs(c.CIDRs, r.CIDRs, r.Narrow); err != nil {
		return Grant{}, err
	}

	// environment: the caller's, or sandbox
	env := r.Environment
	switch {
	case env == "":
		env = c.Environment
	case env == c.Environment || env == EnvSandbox:
	case env == EnvProduction && c.Environment == EnvSandbox:
		if !r.Narrow {
			return Grant{}, refuse("environment", "a sandbox credential can create only sandbox keys (csy_dev_)")
		}
		env = EnvSandbox
	default:
		return Grant{}, refuse("environment", "environment must be production or sandbox")
	}
	if env == "" {
		env = EnvSandbox // an unknown ceiling environment grants the lesser one
	}
	g.Environment = env

	// expiry: no later than the caller, never beyond the account's bound
	limit := r.Now.Add(MaxLife)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(limit) {
		limit = c.ExpiresAt
	}
	exp := r.ExpiresAt
	if exp.IsZero() {
		life := r.DefaultLife
		if life == 0 {
			life = keyrules.DefExpiry
		}
		exp = r.Now.Add(life)
		if exp.After(limit) {
			exp = limit
		}
	}
	if exp.After(limit) {
		if !r.Narrow {
			if !c.ExpiresAt.IsZero() && limit.Equal(c.ExpiresAt) {
				return Grant{}, refuse("expiry", "a key cannot outlive the credential that creates it: ask for an expiry no later than %s", c.ExpiresAt.UTC().Format(time.RFC3339))
			}
			return Grant{}, refuse("expiry", "a key lives at most %d days", int(MaxLife/keyrules.Day))
		}
		exp = limit
	}
	g.ExpiresAt = exp
	return g, nil
}

// nsCovers reports whether namespace outer allows everything inner does.
// @scope and @scope/* allow every package of the scope; @scope/name only
// itself.
func nsCovers(outer, inner string) bool {
	if outer == inner {
		return true
	}
	oScope, oName, oHas := strings.Cut(outer, "/")
	iScope, iName, iHas := strings.Cut(inner, "/")
	if oScope != iScope {
		return false
	}
	wide := func(has bool, name string) bool { return !has || name == "*" }
	if wide(oHas, oName) {
		return true // a whole scope covers the scope and each of its packages
	}
	return iHas && iName == oName
}

func boundNamespaces(ceiling, asked []string, narrow bool) ([]string, error) {
	if len(ceiling) == 0 {
		if asked == nil {
			return []string{}, nil
		}
		return slices.Clone(asked), nil
	}
	if asked == nil {
		return slices.Clone(ceiling), nil
	}
	if len(asked) == 0 {
		if narrow {
			return slices.Clone(ceiling), nil
		}
		return nil, refuse("namespaces", "the creator may publish only to %s: a key without namespaces would exceed it", strings.Join(ceiling, ", "))
	}
	out := []string{}
	for _, a := range asked {
		covered := slices.ContainsFunc(ceiling, func(c string) bool { return nsCovers(c, a) })
		switch {
		case covered:
			out = appendNew(out, a)
		case !narrow:
			return nil, refuse("namespaces", "namespace %s is outside the creator's namespaces %s", a, strings.Join(ceiling, ", "))
		default:
			// keep the parts of the ceiling that lie inside what was asked
			for _, c := range ceiling {
				if nsCovers(a, c) {
					out = appendNew(out, c)
				}
			}
		}
	}
	if len(out) == 0 {
		// nothing in common: a namespace no package can have, so the grant
		// publishes nowhere rather than everywhere
		out = []string{NoNamespace}
	}
	return out, nil
}

// NoNamespace is the namespace of a grant whose asked namespaces and ceiling
// have nothing in common: no package lies in it.
const NoNamespace = "@-"

func appendNew(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

// prefixCovers reports whether network outer contains network inner.
func prefixCovers(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func parsePrefixes(l []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(l))
	for _, s := range l {
		if p, err := keyrules.ParseCIDR(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func boundCIDRs(ceiling, asked []string, narrow bool) ([]string, error) {
	if len(ceiling) == 0 {
		if asked == nil {
			return []string{}, nil
		}
		return slices.Clone(asked), nil
	}
	if asked == nil {
		return slices.Clone(ceiling), nil
	}
	if len(asked) == 0 {
		if narrow {
			return slices.Clone(ceiling), nil
		}
		return nil, refuse("cidrs", "the creator may be used only from %s: a key usable from anywhere would exceed it", strings.Join(ceiling, ", "))
	}
	cs := parsePrefixes(ceiling)
	out := []string{}
	for _, a := range asked {
		ap, err := keyrules.ParseCIDR(a)
		if err != nil {
			return nil, refuse("cidrs", "invalid CIDR %q", a)
		}
		covered := slices.ContainsFunc(cs, func(c netip.Prefix) bool { return prefixCovers(c, ap) })
		switch {
		case covered:
			out = appendNew(out, ap.String())
		case !narrow:
			return nil, refuse("cidrs", "network %s is outside the creator's networks %s", ap, strings.Join(ceiling, ", "))
		default:
			for _, c := range cs {
				if prefixCovers(ap, c) {
					out = appendNew(out, c.String())
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{NoNetwork}
	}
	return out, nil
}

// NoNetwork is the allow-list of a grant whose asked networks and ceiling
// have nothing in common: an IPv6 discard network (RFC 6666) no client of
// this server comes from.
const NoNetwork = "100::/128"

// Ceiling returns the ceiling a grant confers (what a key made from it may
// itself create).
func (g Grant) Ceiling() Ceiling {
	return Ceiling(g)
}

// OrgAccess bounds what a credential may do to organizations by its
// namespaces (a credential without namespaces is not bounded by them):
//
//   - scopes nil: an act on the account as a whole (creating an organization,
//     accepting an invitation, which lets the organization reach every key of
//     the account) needs a credential without namespaces;
//   - otherwise every one of scopes (an organization's npm scopes when it is
//     administered or read; the one scope claimed or released) must be inside
//     the credential's namespaces.
//
// what names the act for the message.
func OrgAccess(c Ceiling, scopes []string, what string) error {
	if len(c.Namespaces) == 0 {
		return nil
	}
	if scopes == nil {
		return refuse("namespaces", "a credential limited to the namespaces %s cannot %s: use one without namespaces", strings.Join(c.Namespaces, ", "), what)
	}
	for _, sc := range scopes {
		if !slices.ContainsFunc(c.Namespaces, func(ns string) bool { return nsCovers(ns, sc) }) {
			return refuse("namespaces", "a credential limited to the namespaces %s cannot %s: %s is outside them", strings.Join(c.Namespaces, ", "), what, sc)
		}
	}
	return nil
}
