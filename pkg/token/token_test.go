package token

import (
	"hash/crc32"
	"strings"
	"testing"
)

func TestNewParse(t *testing.T) {
	for _, env := range []string{"prod", "dev"} {
		tok := New(env)
		got, err := Parse(tok)
		if err != nil || got != env {
			t.Fatalf("%s: %v %q", tok, err, got)
		}
		if want := map[string]int{"prod": 45, "dev": 44}[env]; len(tok) != want {
			t.Fatalf("length %d", len(tok))
		}
	}
}

func TestChecksumSpec(t *testing.T) {
	// CRC-32 IEEE of the random part, base62, most significant first, padded.
	r := "0123456789ABCDEFGHIJKLMNOPQRST"
	v := crc32.ChecksumIEEE([]byte(r))
	var dec uint32
	for _, c := range Checksum(r) {
		dec = dec*62 + uint32(strings.IndexRune(Alphabet, c))
	}
	if dec != v {
		t.Fatalf("checksum decodes to %d, want %d", dec, v)
	}
	if Checksum("") != "000000" {
		t.Fatalf("crc of empty is 0: %q", Checksum(""))
	}
}

func TestParseRejects(t *testing.T) {
	good := New("prod")
	bad := []string{
		"", "csy_prod_", good[:len(good)-1], good + "x",
		"csy_test_" + good[9:],
		good[:20] + "!" + good[21:],
		good[:len(good)-1] + string(flip(good[len(good)-1])),
		good[:10] + string(flip(good[10])) + good[11:],
	}
	for _, b := range bad {
		if _, err := Parse(b); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

func flip(c byte) byte {
	if c == 'a' {
		return 'b'
	}
	return 'a'
}

func FuzzParse(f *testing.F) {
	f.Add(New("prod"))
	f.Add(New("dev"))
	f.Add("csy_prod_000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := Parse(s)
		if err == nil {
			if env != "prod" && env != "dev" {
				t.Fatal(env)
			}
			r := s[len(s)-36 : len(s)-6]
			if Checksum(r) != s[len(s)-6:] {
				t.Fatal("accepted a bad checksum")
			}
		}
	})
}

// Valid (no allocation, for scanners) agrees with the plain definition:
// prefix, 30 base62 characters, their Checksum.
func TestValidAgreesWithChecksum(t *testing.T) {
	ref := func(s string) bool {
		for _, p := range []string{PrefixProd, PrefixDev} {
			if r, ok := strings.CutPrefix(s, p); ok && len(r) == 36 && strings.Trim(r, Alphabet) == "" {
				return Checksum(r[:30]) == r[30:]
			}
		}
		return false
	}
	for i := 0; i < 2000; i++ {
		tok := New([]string{"prod", "dev"}[i%2])
		b := []byte(tok)
		switch i % 4 {
		case 1:
			b[len(b)-1-i%36] = Alphabet[(i*7)%62] // may or may not change it
		case 2:
			b = b[:len(b)-1]
		case 3:
			b[9+i%20] = '-'
		}
		s := string(b)
		_, okS := Valid(s)
		_, okB := Valid(b)
		if okS != ref(s) || okB != okS {
			t.Fatalf("%q: Valid(string)=%v Valid([]byte)=%v, reference %v", s, okS, okB, ref(s))
		}
	}
	if n := testing.AllocsPerRun(100, func() { Valid([]byte("csy_prod_0123456789ABCDEFGHIJKLMNOPQRST000000")) }); n != 0 {
		t.Fatalf("Valid allocates %v times", n)
	}
}
