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
