package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	secrets := []string{
		"csy_prod_0123456789ABCDEFGHIJKLMNOPQRST3fGh1a",
		"csy_dev_0123456789ABCDEFGHIJKLMNOPQRST3fGh1a",
		"csa_Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4",
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXYifQ.c2lnbmF0dXJl",
		"hunter2hunter2",
	}
	in := `{"token":"` + secrets[0] + `","name":"ci"} Bearer ` + secrets[1] +
		" access " + secrets[2] + " jwt " + secrets[3] + " password=" + secrets[4] + "&x=1"
	out := String(in)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %q survived: %s", s, out)
		}
	}
	if !strings.Contains(out, `"name":"ci"`) || !strings.Contains(out, "x=1") {
		t.Errorf("non-secret text lost: %s", out)
	}
	if !strings.Contains(out, "csy_dev_0123") {
		t.Errorf("prefix should stay visible: %s", out)
	}
}

func TestHeader(t *testing.T) {
	if got := Header("Authorization", "Bearer csy_dev_secret"); got != "Bearer "+Mask {
		t.Fatal(got)
	}
	// a rotation's Idempotency-Key gets its stored answer (a new token) back
	if got := Header("Idempotency-Key", "3f1c0d9a-key"); got != Mask {
		t.Fatal(got)
	}
}

func TestPathAndLooks(t *testing.T) {
	tok := "csy_prod_" + strings.Repeat("A", 32) + "_abc123"
	for in, want := range map[string]string{
		"/v1/keys/key_abc":                      "/v1/keys/key_abc",
		"/v1/keys/" + tok + "/rotate":           "/v1/keys/csy_prod_AAA…[REDACTED]/rotate",
		"/v1/keys/csy_dev_short":                "/v1/keys/csy_dev_shor…[REDACTED]",
		"/v1/orgs/acme/members/mia/keys/" + tok: "/v1/orgs/acme/members/mia/keys/csy_prod_AAA…[REDACTED]",
		"/v1/keys/eyJhbGciOi.eyJzdWIi.sig":      "/v1/keys/eyJ…[REDACTED]",
	} {
		if got := Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	for s, want := range map[string]bool{tok: true, "csa_x1": true, "key_abc": false, "jwk_x": false, "eyJ": false, "cs_x": false} {
		if Looks(s) != want {
			t.Errorf("Looks(%q) = %v", s, !want)
		}
	}
}
