package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/codesync/codesync-cli/pkg/token"
)

// sarifSchema compiles the SARIF 2.1.0 JSON schema kept in testdata (see
// testdata/README.md for where it comes from).
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, b []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(v)
}

func TestSARIFValidAgainstSchema(t *testing.T) {
	sch := sarifSchema(t)
	tok := token.New("prod")
	findings := []Finding{
		{Path: "src/app config.yml", Line: 3, Column: 8, EndColumn: 53, Prefix: tok[:12], Environment: "production", SHA256: sha(tok)},
		{Path: "/abs/image.tar!blobs/sha256/ab!etc/app.env", Line: 1, Column: 1, EndColumn: 46, Prefix: tok[:12], Environment: "production", SHA256: sha(tok)},
		{Path: "app/x.yml", Commit: "754ba163c88f56a7cdccd13cb80e25bcd97bca80", Line: 2, Column: 1, EndColumn: 45, Prefix: "csy_dev_AbCd", Environment: "sandbox", SHA256: sha("x")},
		{Path: "-", Line: 1, Column: 1, EndColumn: 46, Prefix: tok[:12], Environment: "production", SHA256: sha(tok)},
	}
	for _, fs := range [][]Finding{nil, findings} {
		log := SARIF(fs, "1.2.3", func(i int) map[string]any { return map[string]any{"status": "active"} })
		b, err := json.Marshal(log)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, b); err != nil {
			t.Fatalf("SARIF does not validate: %v\n%s", err, b)
		}
		if strings.Contains(string(b), tok) {
			t.Fatal("the SARIF log holds a whole token")
		}
	}
	// the validator is not a rubber stamp: a log without its version fails
	b, _ := json.Marshal(SARIF(findings, "1", nil))
	broken := bytes.Replace(b, []byte(`"version":"2.1.0",`), nil, 1)
	if err := validate(t, sch, broken); err == nil {
		t.Fatal("a log without version validated")
	}
	broken = bytes.Replace(b, []byte(`"startLine":3`), []byte(`"startLine":0`), 1)
	if err := validate(t, sch, broken); err == nil {
		t.Fatal("a region with line 0 validated")
	}
}

func TestURI(t *testing.T) {
	for in, want := range map[string]string{
		"src/a b.yml":            "src/a%20b.yml",
		"-":                      "stdin",
		"/tmp/x.tar!etc/a":       "file:///tmp/x.tar%21etc/a",
		"c:odd/name":             "./c:odd/name",
		"img.tar!blobs/sha256/a": "img.tar%21blobs/sha256/a",
	} {
		if got := URI(in); got != want {
			t.Errorf("URI(%q) = %q, want %q", in, got, want)
		}
	}
}
