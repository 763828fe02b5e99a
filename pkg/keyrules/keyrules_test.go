package keyrules

import (
	"net/netip"
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	good := map[string]time.Duration{"1h": time.Hour, "90d": 90 * Day, "2w": 14 * Day, "365d": 365 * Day, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute}
	for in, want := range good {
		if got, err := ParseExpiry(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "59m", "366d", "0", "-1d", "abc", "1y", "d", "99999999999d"} {
		if _, err := ParseExpiry(in); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

func TestScopes(t *testing.T) {
	got, err := ParseScopes("keys:read,registry:read keys:read")
	if err != nil || len(got) != 2 || got[0] != "keys:read" {
		t.Fatal(got, err)
	}
	for _, in := range []string{"", "keys:admin", "keys:read,bogus"} {
		if _, err := ParseScopes(in); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

func TestCIDRs(t *testing.T) {
	got, err := ParseCIDRs("10.1.2.3/8,2001:db8::1/32,192.0.2.7")
	if err != nil || got[0] != "10.0.0.0/8" || got[1] != "2001:db8::/32" || got[2] != "192.0.2.7/32" {
		t.Fatal(got, err)
	}
	for _, in := range []string{"10.0.0.0/33", "nonsense", "300.1.1.1", "10.0.0.0/8/1", "fe80::1%eth0"} {
		if _, err := ParseCIDRs(in); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	if !AllowedFrom([]string{"127.0.0.0/8"}, netip.MustParseAddr("::ffff:127.0.0.1")) {
		t.Error("v4-mapped loopback not allowed")
	}
	if AllowedFrom([]string{"10.0.0.0/8"}, netip.MustParseAddr("127.0.0.1")) {
		t.Error("127.0.0.1 allowed by 10/8")
	}
}

func TestNamespaces(t *testing.T) {
	if _, err := ParseNamespaces("@acme,@acme/tools,@acme/*"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"acme", "@ACME", "@acme/", "@/x", "@acme/tools/x"} {
		if _, err := ParseNamespaces(in); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	if !NamespaceAllows([]string{"@acme"}, "@acme/x") || NamespaceAllows([]string{"@acme"}, "@other/x") ||
		!NamespaceAllows([]string{"@acme/x"}, "@acme/x") || NamespaceAllows([]string{"@acme/x"}, "@acme/y") {
		t.Error("namespace matching wrong")
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "1h", "2w", "1h30m", "-5d", "9999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseExpiry(s); err == nil && (d < MinExpiry || d > MaxExpiry) {
			t.Fatalf("%q gave %v", s, d)
		}
	})
}

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "1.2.3.4,5.6.7.0/24", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		for _, c := range list {
			if _, err := netip.ParsePrefix(c); err != nil {
				t.Fatalf("%q normalised to invalid %q", s, c)
			}
		}
	})
}

func FuzzParseScopes(f *testing.F) {
	f.Add("keys:read,keys:write")
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseScopes(s)
		if err == nil {
			for _, sc := range list {
				if !ValidScope(sc) {
					t.Fatal(sc)
				}
			}
		}
	})
}

func FuzzParseNamespaces(f *testing.F) {
	f.Add("@acme,@acme/x")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseNamespaces(s) })
}
