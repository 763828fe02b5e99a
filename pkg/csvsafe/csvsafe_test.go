package csvsafe

import (
	"strings"
	"testing"
)

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://x","click")`: `'=HYPERLINK("http://x","click")`,
		"+1":                             "'+1", "-1+2": "'-1+2", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "name": "name", "'=already": "'=already", "a=b": "a=b",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCopy(t *testing.T) {
	var b strings.Builder
	in := "id,name\nkey_1,\"=HYPERLINK(\"\"http://x\"\",\"\"c\"\")\"\nkey_2,'=done\n"
	if _, err := Copy(&b, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := "id,name\nkey_1,\"'=HYPERLINK(\"\"http://x\"\",\"\"c\"\")\"\nkey_2,'=done\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
}
