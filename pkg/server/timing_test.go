package server_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"testing"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	cstoken "github.com/codesync/codesync-cli/pkg/token"
)

// An API key is looked up by its SHA-256, never compared byte by byte, so the
// time a refusal takes says nothing about how much of a guess was right.
// Timing ratios are too noisy to see a byte-by-byte comparison on a shared
// machine; these tests assert on the code path instead:
//
//   - TestAPIKeyReachesOnlyParseAndHash: in the server's API-key check, the
//     raw token goes nowhere but token.Parse (format and checksum) and
//     token.Hash; no comparison, prefix match or map lookup sees it;
//   - TestRawTokensAreNotStored: the database holds no API key in any raw
//     form, so nothing could compare one;
//   - the lookup itself is an equality search on the unique index of
//     token_hash (store's TestKeyQueriesUseIndexes checks the query plan);
//   - TestNearMissIsUnknown: a near miss (one character off, valid checksum)
//     is refused exactly like an unrelated key.

func TestAPIKeyReachesOnlyParseAndHash(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "auth.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == "authAPIKey" {
			fn = d
		}
	}
	if fn == nil {
		t.Fatal("authAPIKey not found in auth.go: update this test with the API-key check")
	}
	// the raw token is the function's string parameter
	raw := ""
	for _, p := range fn.Type.Params.List {
		if id, ok := p.Type.(*ast.Ident); ok && id.Name == "string" && len(p.Names) == 1 {
			raw = p.Names[0].Name
		}
	}
	if raw == "" {
		t.Fatal("authAPIKey has no string parameter")
	}
	allowed := map[string]bool{"token.Parse": true, "token.Hash": true}
	uses := 0
	ast.Inspect(fn.Body, func(c ast.Node) bool {
		call, ok := c.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, _ := call.Fun.(*ast.SelectorExpr)
		name := ""
		if sel != nil {
			if x, ok := sel.X.(*ast.Ident); ok {
				name = x.Name + "." + sel.Sel.Name
			}
		}
		for _, a := range call.Args {
			if id, ok := a.(*ast.Ident); ok && id.Name == raw {
				if !allowed[name] {
					t.Errorf("%s: the raw API key is passed to %q; only token.Parse and token.Hash may see it", fset.Position(a.Pos()), name)
				}
				uses++
			}
		}
		return true
	})
	// every use of the raw token must be one of the calls counted above
	all := 0
	ast.Inspect(fn.Body, func(c ast.Node) bool {
		if id, ok := c.(*ast.Ident); ok && id.Name == raw {
			all++
		}
		return true
	})
	if all != uses || uses == 0 {
		t.Errorf("the raw API key is used %d times in authAPIKey, %d of them as an argument of token.Parse or token.Hash: any other use (a comparison, a prefix match, a map key) could leak timing", all, uses)
	}
}

func TestRawTokensAreNotStored(t *testing.T) {
	e := start(t, server.Config{})
	k, r := e.create(e.token, model.CreateKeyRequest{Name: "stored", Scopes: []string{"keys:read"}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, tok := range []string{e.token, k.Token} {
		if got := e.do("GET", "/v1/auth/whoami", tok, nil); got.status != 200 {
			t.Fatalf("whoami: %d", got.status)
		}
	}
	var path string
	rows, err := e.st.DB().Query("PRAGMA database_list")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			t.Fatal(err)
		}
		if name == "main" {
			path = file
		}
	}
	rows.Close()
	if path == "" {
		t.Fatal("no database file")
	}
	files, _ := filepath.Glob(path + "*") // the database, its WAL and shared memory
	seenHash := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{e.token, k.Token} {
			body := tok[len("csy_dev_") : len(tok)-6] // the random part, without prefix and checksum
			if bytes.Contains(b, []byte(body)) {
				t.Errorf("%s holds a raw API key", filepath.Base(f))
			}
			if bytes.Contains(b, cstoken.Hash(tok)) {
				seenHash = true
			}
		}
	}
	if !seenHash {
		t.Fatalf("no token hash found in %v: the check above looked in the wrong place", files)
	}
}

func TestNearMissIsUnknown(t *testing.T) {
	e := start(t, server.Config{})
	real := e.token
	body := real[len("csy_dev_") : len(real)-6]
	swap := byte('A')
	if body[len(body)-1] == 'A' {
		swap = 'B'
	}
	nearBody := body[:len(body)-1] + string(swap)
	near := "csy_dev_" + nearBody + cstoken.Checksum(nearBody)
	far := cstoken.New("dev")
	rn, rf := e.do("GET", "/v1/auth/whoami", near, nil), e.do("GET", "/v1/auth/whoami", far, nil)
	if rn.status != 401 || rf.status != 401 || string(rn.body) != string(rf.body) {
		t.Fatalf("a near miss and an unrelated key are refused differently:\n%d %s\n%d %s", rn.status, rn.body, rf.status, rf.body)
	}
}
