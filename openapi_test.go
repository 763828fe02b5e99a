package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/codesync/codesync-cli/internal/fakeidp"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/server"
	"github.com/codesync/codesync-cli/pkg/trustedpub"
)

// The API contract users read is docs/openapi.yaml (and docs/api.md). These
// tests hold it to the real server: the same routes, and real answers that
// validate against the documented schemas.

const specFile = "docs/openapi.yaml"

// apiSpec is docs/openapi.yaml, parsed, with a JSON Schema compiler over it.
type apiSpec struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

func loadSpec(t *testing.T) *apiSpec {
	t.Helper()
	raw, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		t.Fatalf("%s: %v", specFile, err)
	}
	// through JSON, so numbers are json.Number as the validator expects
	j, err := json.Marshal(y)
	if err != nil {
		t.Fatalf("%s is not JSON-compatible (a non-string key?): %v", specFile, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's schema dialect
	c.AssertFormat()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return &apiSpec{doc: doc.(map[string]any), compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

// schema compiles the schema at a JSON pointer of the document.
func (s *apiSpec) schema(t *testing.T, ptr []string) *jsonschema.Schema {
	t.Helper()
	var esc []string
	for _, p := range ptr {
		esc = append(esc, url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")))
	}
	loc := "openapi.json#/" + strings.Join(esc, "/")
	if sch, ok := s.schemas[loc]; ok {
		return sch
	}
	sch, err := s.compiler.Compile(loc)
	if err != nil {
		t.Fatalf("compiling %s: %v", loc, err)
	}
	s.schemas[loc] = sch
	return sch
}

// resolve follows a local $ref ("#/components/…") and returns the object and
// its pointer.
func (s *apiSpec) resolve(t *testing.T, v map[string]any, ptr []string) (map[string]any, []string) {
	t.Helper()
	ref, ok := v["$ref"].(string)
	if !ok {
		return v, ptr
	}
	if !strings.HasPrefix(ref, "#/") {
		t.Fatalf("only local $refs: %s", ref)
	}
	parts := strings.Split(ref[2:], "/")
	var cur any = s.doc
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok || m[p] == nil {
			t.Fatalf("%s: $ref %s does not resolve", strings.Join(ptr, "/"), ref)
		}
		cur = m[p]
	}
	return cur.(map[string]any), parts
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// normRoute makes a Go pattern and an OpenAPI path comparable: every
// parameter becomes {} and a trailing wildcard {x...} becomes {...}.
var paramRE = regexp.MustCompile(`\{[^}.]*(\.\.\.)?\}`)

func normRoute(method, path string) string {
	return strings.ToUpper(method) + " " + paramRE.ReplaceAllStringFunc(path, func(m string) string {
		if strings.HasSuffix(m, "...}") {
			return "{...}"
		}
		return "{}"
	})
}

// operations returns every documented operation: normalised route -> the
// OpenAPI path and method.
func (s *apiSpec) operations(t *testing.T) map[string][2]string {
	t.Helper()
	paths, _ := s.doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("no paths in the spec")
	}
	ops := map[string][2]string{}
	for p, item := range paths {
		im := item.(map[string]any)
		route := p
		if r, ok := im["x-route"].(string); ok {
			route = r
		}
		for _, m := range httpMethods {
			if _, ok := im[m]; ok {
				ops[normRoute(m, route)] = [2]string{p, m}
			}
		}
	}
	return ops
}

// servedRoutes reads the route patterns registered in pkg/server's source:
// every string literal "METHOD /path" is one route. A pattern without a
// method other than the catch-all "/" fails the test (register with a method).
func servedRoutes(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("pkg/server/*.go")
	patRE := regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/\S*)$`)
	routes := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains([]string{"handle", "Handle", "HandleFunc"}, sel.Sel.Name) {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			p, _ := strconv.Unquote(lit.Value)
			if m := patRE.FindStringSubmatch(p); m != nil {
				routes[normRoute(m[1], m[2])] = p
			} else if p != "/" {
				t.Errorf("%s: route %q has no method: register routes as \"METHOD /path\"", f, p)
			}
			return true
		})
	}
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in pkg/server: the source scan is broken", len(routes))
	}
	return routes
}

// TestOpenAPIDocumentIsWellFormed: OpenAPI 3.1, unique operation IDs, every
// operation answers with described responses, every $ref resolves and every
// schema compiles as JSON Schema 2020-12.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	s := loadSpec(t)
	if v, _ := s.doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi: %q, want 3.1.x", v)
	}
	ids := map[string]bool{}
	for route, op := range s.operations(t) {
		o := s.doc["paths"].(map[string]any)[op[0]].(map[string]any)[op[1]].(map[string]any)
		id, _ := o["operationId"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s: operationId %q missing or repeated", route, id)
		}
		ids[id] = true
		if o["summary"] == nil {
			t.Errorf("%s: no summary", route)
		}
		resps, _ := o["responses"].(map[string]any)
		if len(resps) == 0 {
			t.Errorf("%s: no responses", route)
		}
		for code, r := range resps {
			rm, ptr := s.resolve(t, r.(map[string]any), []string{"paths", op[0], op[1], "responses", code})
			if d, _ := rm["description"].(string); d == "" {
				t.Errorf("%s %s: no description", route, code)
			}
			content, _ := rm["content"].(map[string]any)
			for ct, mt := range content {
				if mt.(map[string]any)["schema"] == nil {
					t.Errorf("%s %s %s: no schema", route, code, ct)
					continue
				}
				s.schema(t, append(slices.Clone(ptr), "content", ct, "schema"))
			}
		}
	}
	for name := range s.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		s.schema(t, []string{"components", "schemas", name})
	}
}

// TestOpenAPIMatchesServedRoutes: every route the server registers is
// documented, every documented route is registered, and the running server
// really serves each one (it does not fall through to the catch-all 404).
func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	s := loadSpec(t)
	documented := s.operations(t)
	served := servedRoutes(t)
	for r, p := range served {
		if _, ok := documented[r]; !ok {
			t.Errorf("the server serves %q but %s does not document it", p, specFile)
		}
	}
	for r, op := range documented {
		if _, ok := served[r]; !ok {
			t.Errorf("%s documents %s %s, which the server does not serve", specFile, strings.ToUpper(op[1]), op[0])
		}
	}
	// docs/api.md, the prose, names every served path too
	prose, err := os.ReadFile("docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range served {
		_, path, _ := strings.Cut(p, " ")
		path = strings.ReplaceAll(path, "/{name...}", "/@scope/name")
		if !strings.Contains(string(prose), path+"`") {
			t.Errorf("docs/api.md does not name %s", path)
		}
	}
	ts := startServer(t, server.Config{})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for r := range served {
		method, path, _ := strings.Cut(r, " ")
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{...}", "@acme/x"), "{}", "x")
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(body), "no such endpoint") || res.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s %s: not served by the running server (%d %s)", method, path, res.StatusCode, body)
		}
	}
	// a path nobody serves: the documented JSON 404
	res, err := http.Get(ts.URL + "/v1/no-such-thing")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("unknown path: %d", res.StatusCode)
	}
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err := s.schema(t, []string{"components", "schemas", "Error"}).Validate(v); err != nil {
		t.Fatalf("unknown path: %v", err)
	}
}

// sample is one real answer of the server to a documented operation.
type sample struct {
	method, path string // the OpenAPI path template
	status       int
	header       http.Header
	body         []byte
	reqType      string // the request's content type and body
	reqBody      []byte
}

// apiSession drives a real server and keeps every answer.
type apiSession struct {
	t       *testing.T
	base    string
	hc      *http.Client
	samples []sample
}

func (a *apiSession) do(method, tmpl, path, tok string, body io.Reader, ctype string, hdr ...string) sample {
	a.t.Helper()
	var reqBody []byte
	if body != nil {
		reqBody, _ = io.ReadAll(body)
		body = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	s := sample{method: method, path: tmpl, status: res.StatusCode, header: res.Header, body: b, reqType: ctype, reqBody: reqBody}
	a.samples = append(a.samples, s)
	return s
}

func (a *apiSession) json(method, tmpl, path, tok string, v any, want int) map[string]any {
	a.t.Helper()
	var body io.Reader
	if v != nil {
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	s := a.do(method, tmpl, path, tok, body, "application/json")
	if s.status != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, s.status, want, s.body)
	}
	var out map[string]any
	_ = json.Unmarshal(s.body, &out)
	return out
}

func (a *apiSession) form(tmpl, path string, f url.Values, want int) map[string]any {
	a.t.Helper()
	s := a.do("POST", tmpl, path, "", strings.NewReader(f.Encode()), "application/x-www-form-urlencoded")
	if s.status != want {
		a.t.Fatalf("POST %s: %d, want %d: %s", path, s.status, want, s.body)
	}
	var out map[string]any
	_ = json.Unmarshal(s.body, &out)
	return out
}

// page GETs an HTML form with a cookie jar and returns its CSRF token.
func (a *apiSession) page(tmpl, path string, want int) string {
	a.t.Helper()
	s := a.do("GET", tmpl, path, "", nil, "")
	if s.status != want {
		a.t.Fatalf("GET %s: %d, want %d: %s", path, s.status, want, s.body)
	}
	if m := csrfRE.FindSubmatch(s.body); m != nil {
		return string(m[1])
	}
	return ""
}

// exercise calls every documented operation at least once with a success and
// the common failures with their error answers.
func (a *apiSession) exercise(ts *testServer) {
	t := a.t
	dev := ts.Token
	// health, whoami, the catch-all errors of authentication
	a.json("GET", "/v1/auth/health", "/v1/auth/health", "", nil, 200)
	a.json("GET", "/v1/auth/whoami", "/v1/auth/whoami", dev, nil, 200)
	a.json("GET", "/v1/auth/whoami", "/v1/auth/whoami", "", nil, 401)
	a.json("GET", "/v1/keys", "/v1/keys", "csy_dev_000000000000000000000000000000000000", nil, 401)

	// keys
	k := a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "ci-publish", "scopes": []string{"registry:read", "registry:publish"},
		"expires_in": 30 * 86400, "namespaces": []string{"@acme"}, "cidrs": []string{"127.0.0.0/8"}}, 201)
	id, _ := k["id"].(string)
	a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "x", "scopes": []string{"nope"}}, 400)
	a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "x", "scopes": []string{"keys:read"}, "bogus": 1}, 400)
	a.do("POST", "/v1/keys", "/v1/keys", dev, strings.NewReader(`{"name":"`+strings.Repeat("x", 70<<10)+`"}`), "application/json")
	reader := a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "reader", "scopes": []string{"registry:read"}}, 201)
	readTok, _ := reader["token"].(string)
	a.json("GET", "/v1/keys", "/v1/keys", readTok, nil, 403) // lacks keys:read
	a.json("POST", "/v1/keys", "/v1/keys", readTok, map[string]any{"name": "wider", "scopes": []string{"keys:write"}}, 403)
	a.json("GET", "/v1/keys", "/v1/keys?limit=1", dev, nil, 200)
	a.json("GET", "/v1/keys", "/v1/keys?all=true", dev, nil, 200)
	a.json("GET", "/v1/keys", "/v1/keys?limit=0", dev, nil, 400)
	a.json("GET", "/v1/keys/{id}", "/v1/keys/"+id, dev, nil, 200)
	a.json("GET", "/v1/keys/{id}", "/v1/keys/key_nope", dev, nil, 404)
	a.do("POST", "/v1/keys/{id}/rotate", "/v1/keys/"+id+"/rotate", dev, nil, "", "Idempotency-Key", "idem-1")
	rot := a.samples[len(a.samples)-1]
	if rot.status != 200 {
		t.Fatalf("rotate with no body: %d %s", rot.status, rot.body)
	}
	a.do("POST", "/v1/keys/{id}/rotate", "/v1/keys/"+id+"/rotate", dev, strings.NewReader(`{"grace_seconds":0}`), "application/json", "Idempotency-Key", "idem-1")
	if again := a.samples[len(a.samples)-1]; again.status != 200 || !bytes.Equal(again.body, rot.body) {
		t.Fatalf("the idempotent rerun differs: %d %s", again.status, again.body)
	}
	a.json("POST", "/v1/keys/{id}/rotate", "/v1/keys/"+id+"/rotate", dev, map[string]any{"grace_seconds": 0}, 409)
	a.json("POST", "/v1/keys/{id}/rotate", "/v1/keys/"+id+"/rotate", dev, map[string]any{"grace_seconds": -1}, 400)
	a.json("POST", "/v1/keys/{id}/rotate", "/v1/keys/key_nope/rotate", dev, map[string]any{}, 404)
	other := a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "other", "scopes": []string{"audit:read"}}, 201)
	otherID, _ := other["id"].(string)
	a.do("POST", "/v1/keys/{id}/rotate", "/v1/keys/"+otherID+"/rotate", dev, nil, "", "Idempotency-Key", "idem-1")
	if a.samples[len(a.samples)-1].status != 422 {
		t.Fatalf("a reused Idempotency-Key: %d", a.samples[len(a.samples)-1].status)
	}
	a.json("DELETE", "/v1/keys/{id}", "/v1/keys/"+otherID, dev, nil, 200)
	a.json("DELETE", "/v1/keys/{id}", "/v1/keys/"+otherID, dev, nil, 409)
	a.json("DELETE", "/v1/keys/{id}", "/v1/keys/key_nope", dev, nil, 404)
	for _, q := range []string{"", "?format=json&include_events=true", "?format=ndjson", "?format=csv&since=2020-01-01"} {
		if s := a.do("GET", "/v1/keys/export", "/v1/keys/export"+q, dev, nil, ""); s.status != 200 {
			t.Fatalf("export%s: %d %s", q, s.status, s.body)
		}
	}
	a.json("GET", "/v1/keys/export", "/v1/keys/export?format=xml", dev, nil, 400)

	// audit
	a.json("GET", "/v1/audit/events", "/v1/audit/events?limit=2", dev, nil, 200)
	a.json("GET", "/v1/audit/events", "/v1/audit/events?type=token:created,token:revoked&key_id="+id, dev, nil, 200)
	a.json("GET", "/v1/audit/events", "/v1/audit/events?type=bogus", dev, nil, 400)

	// registry: the first publish claims @acme, which needs npm:scope:write
	a.do("PUT", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@acme/widget", dev, strings.NewReader(`{"version":"1.0.0"}`), "application/json")
	if s := a.samples[len(a.samples)-1]; s.status != 403 {
		t.Fatalf("claiming a scope without npm:scope:write: %d %s", s.status, s.body)
	}
	claimer := mintKey(t, ts, "dev", model.EnvSandbox, "registry:read", "registry:publish", "npm:scope:write")
	a.do("PUT", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@acme/widget", claimer, strings.NewReader(`{"version":"1.0.0"}`), "application/json")
	if s := a.samples[len(a.samples)-1]; s.status != 200 {
		t.Fatalf("publish: %d %s", s.status, s.body)
	}
	a.do("PUT", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@acme/widget", dev, strings.NewReader(`[1]`), "application/json")
	a.json("GET", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@acme/widget", dev, nil, 200)
	a.json("GET", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@acme/none", dev, nil, 404)

	// JWT keys
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	jk := a.json("POST", "/v1/jwt/keys", "/v1/jwt/keys", dev, map[string]any{"name": "deploy", "public_key": pemKey}, 201)
	jid, _ := jk["id"].(string)
	a.json("POST", "/v1/jwt/keys", "/v1/jwt/keys", dev, map[string]any{"public_key": "not a key"}, 400)
	a.json("GET", "/v1/jwt/keys", "/v1/jwt/keys", dev, nil, 200)
	a.json("GET", "/v1/jwt/keys/{id}", "/v1/jwt/keys/"+jid, dev, nil, 200)
	if s := a.do("DELETE", "/v1/jwt/keys/{id}", "/v1/jwt/keys/"+jid, dev, nil, ""); s.status != 204 {
		t.Fatalf("delete JWT key: %d %s", s.status, s.body)
	}
	a.json("GET", "/v1/jwt/keys/{id}", "/v1/jwt/keys/"+jid, dev, nil, 404)
	a.json("DELETE", "/v1/jwt/keys/{id}", "/v1/jwt/keys/"+jid, dev, nil, 404)

	// OAuth: metadata, device flow, authorization code with PKCE, refresh,
	// introspection, revocation
	a.json("GET", "/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server", "", nil, 200)
	a.form("/oauth/device/code", "/oauth/device/code", url.Values{"client_id": {"nope"}}, 401)
	a.form("/oauth/device/code", "/oauth/device/code", url.Values{"client_id": {"codesync-cli"}, "scope": {"bogus"}}, 400)
	da := a.form("/oauth/device/code", "/oauth/device/code", url.Values{"client_id": {"codesync-cli"}}, 200)
	dc, _ := da["device_code"].(string)
	uc, _ := da["user_code"].(string)
	poll := url.Values{"client_id": {"codesync-cli"}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc}}
	a.form("/oauth/token", "/oauth/token", poll, 400) // authorization_pending
	csrf := a.page("/device", "/device?user_code="+uc, 200)
	bad := url.Values{"username": {"dev"}, "password": {"wrong"}, "user_code": {uc}, "csrf_token": {csrf}, "action": {"approve"}}
	a.form("/device", "/device", bad, 400)
	csrf = a.page("/device", "/device", 200)
	ok := url.Values{"username": {"dev"}, "password": {ts.Password}, "user_code": {uc}, "csrf_token": {csrf}, "action": {"approve"}}
	a.form("/device", "/device", ok, 200)
	time.Sleep(1100 * time.Millisecond) // the device interval
	a.form("/oauth/token", "/oauth/token", poll, 200)
	a.form("/oauth/token", "/oauth/token", url.Values{"client_id": {"codesync-cli"}, "grant_type": {"password"}}, 400)

	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {"codesync-cli"}, "redirect_uri": {"http://127.0.0.1:9/callback"}, "response_type": {"code"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "state": {"st"}}
	authURL := "/oauth/authorize?" + q.Encode()
	csrf = a.page("/oauth/authorize", authURL, 200)
	s := a.do("POST", "/oauth/authorize", authURL, "", strings.NewReader(url.Values{"username": {"dev"}, "password": {ts.Password},
		"csrf_token": {csrf}, "action": {"approve"}}.Encode()), "application/x-www-form-urlencoded")
	loc, _ := url.Parse(s.header.Get("Location"))
	if s.status != 302 || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v", s.status, s.header)
	}
	tok := a.form("/oauth/token", "/oauth/token", url.Values{"client_id": {"codesync-cli"}, "grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {"http://127.0.0.1:9/callback"}}, 200)
	q.Set("code_challenge_method", "plain")
	a.page("/oauth/authorize", "/oauth/authorize?"+q.Encode(), 302)
	q.Set("redirect_uri", "https://evil.example/cb")
	a.page("/oauth/authorize", "/oauth/authorize?"+q.Encode(), 400)
	rt, _ := tok["refresh_token"].(string)
	tok = a.form("/oauth/token", "/oauth/token", url.Values{"client_id": {"codesync-cli"}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, 200)
	a.form("/oauth/token", "/oauth/token", url.Values{"client_id": {"codesync-cli"}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, 400)
	// the reused refresh token revoked that session: introspection says inactive
	access, _ := tok["access_token"].(string)
	if in := a.form("/oauth/introspect", "/oauth/introspect", url.Values{"token": {access}}, 200); in["active"] != false {
		t.Fatalf("introspect a token of a revoked session: %v", in)
	}
	a.form("/oauth/revoke", "/oauth/revoke", url.Values{"token": {"csr_unknown"}}, 200)
	a.form("/oauth/token", "/oauth/token", poll, 400) // the device code is spent
	// an active token for introspection: a fresh authorization code login
	csrf = a.page("/oauth/authorize", authURL, 200)
	s = a.do("POST", "/oauth/authorize", authURL, "", strings.NewReader(url.Values{"username": {"dev"}, "password": {ts.Password},
		"csrf_token": {csrf}, "action": {"approve"}}.Encode()), "application/x-www-form-urlencoded")
	loc, _ = url.Parse(s.header.Get("Location"))
	tok = a.form("/oauth/token", "/oauth/token", url.Values{"client_id": {"codesync-cli"}, "grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {"http://127.0.0.1:9/callback"}}, 200)
	access, _ = tok["access_token"].(string)
	if in := a.form("/oauth/introspect", "/oauth/introspect", url.Values{"token": {access}}, 200); in["active"] != true {
		t.Fatalf("introspect a live token: %v", in)
	}
	a.json("GET", "/v1/auth/whoami", "/v1/auth/whoami", access, nil, 200)
	a.form("/oauth/revoke", "/oauth/revoke", url.Values{"token": {access}}, 200)
	if in := a.form("/oauth/introspect", "/oauth/introspect", url.Values{"token": {access}}, 200); in["active"] != false {
		t.Fatalf("introspect a revoked token: %v", in)
	}
	a.json("GET", "/v1/auth/whoami", "/v1/auth/whoami", access, nil, 401)
	// a denied browser login redirects with error=access_denied
	csrf = a.page("/oauth/authorize", authURL, 200)
	s = a.do("POST", "/oauth/authorize", authURL, "", strings.NewReader(url.Values{"username": {"dev"}, "password": {ts.Password},
		"csrf_token": {csrf}, "action": {"deny"}}.Encode()), "application/x-www-form-urlencoded")
	if loc, _ := url.Parse(s.header.Get("Location")); s.status != 302 || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("deny: %d %v", s.status, s.header)
	}
}

// TestOpenAPISamplesMatchSchemas drives the real server through every
// documented operation and validates each answer: its status is documented
// for the operation, its content type is one of the documented ones, its
// body validates against the documented schema (each line, for ndjson), and
// the documented required headers are present.
// exerciseLeaks drives POST /v1/keys/check and a signed secret-scanning report.
func (a *apiSession) exerciseLeaks(dev string, reporter *ecdsa.PrivateKey) {
	h := sha256.Sum256([]byte(dev))
	a.json("POST", "/v1/keys/check", "/v1/keys/check", dev, map[string]any{"sha256": []string{fmt.Sprintf("%x", h), strings.Repeat("0", 64)}}, 200)
	a.json("POST", "/v1/keys/check", "/v1/keys/check", dev, map[string]any{"sha256": []string{"xyz"}}, 400)
	body := []byte(`[{"token":"csy_dev_notarealtoken","type":"codesync_api_key","url":"https://example.com/x","source":"content"}]`)
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, reporter, d[:])
	if err != nil {
		a.t.Fatal(err)
	}
	if s := a.do("POST", "/v1/secret-scanning/report", "/v1/secret-scanning/report", "", bytes.NewReader(body), "application/json",
		"GITHUB-PUBLIC-KEY-IDENTIFIER", "test-key", "GITHUB-PUBLIC-KEY-SIGNATURE", base64.StdEncoding.EncodeToString(sig)); s.status != 200 {
		a.t.Fatalf("signed report: %d %s", s.status, s.body)
	}
	a.do("POST", "/v1/secret-scanning/report", "/v1/secret-scanning/report", "", bytes.NewReader(body), "application/json",
		"GITHUB-PUBLIC-KEY-IDENTIFIER", "other-key", "GITHUB-PUBLIC-KEY-SIGNATURE", base64.StdEncoding.EncodeToString(sig))
}

// exerciseFederation signs in through the recorded fake of GitHub on a
// second server: /auth/start, /auth/callback, and the device page's
// approve-only form after the sign-in.
func (a *apiSession) exerciseFederation() {
	t := a.t
	fs, _ := startGitHubFedServer(t)
	saved := a.base
	defer func() { a.base = saved }()
	a.base = fs.URL
	a.do("GET", "/auth/start/{id}", "/auth/start/nope?return=/device", "", nil, "")
	a.do("GET", "/auth/start/{id}", "/auth/start/github?return=https://evil.example/", "", nil, "")
	da := a.form("/oauth/device/code", "/oauth/device/code", url.Values{"client_id": {"codesync-cli"}}, 200)
	uc, _ := da["user_code"].(string)
	start := a.do("GET", "/auth/start/{id}", "/auth/start/github?return="+url.QueryEscape("/device?user_code="+uc), "", nil, "")
	if start.status != 302 {
		t.Fatalf("start: %d %s", start.status, start.body)
	}
	res, err := a.hc.Get(start.header.Get("Location")) // the fake approves at once
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, _ := url.Parse(res.Header.Get("Location"))
	if s := a.do("GET", "/auth/callback/{id}", cb.RequestURI(), "", nil, ""); s.status != 302 {
		t.Fatalf("callback: %d %s", s.status, s.body)
	}
	a.do("GET", "/auth/callback/{id}", cb.RequestURI(), "", nil, "") // the state is spent: 400
	csrf := a.page("/device", "/device?user_code="+uc, 200)
	a.form("/device", "/device", url.Values{"csrf_token": {csrf}, "user_code": {uc}, "action": {"approve"}}, 200)
}

// exerciseTrustedPublishing drives the publishers API and the token
// exchange (fakeidp stands in for GitHub's issuer).
func (a *apiSession) exerciseTrustedPublishing(ts *testServer, idp *fakeidp.IdP) {
	t := a.t
	owner := mintKey(t, ts, "dev", model.EnvSandbox, "registry:read", "registry:publish", "npm:scope:write")
	a.do("PUT", "/v1/registry/packages/{scope}/{name}", "/v1/registry/packages/@tp/seed", owner, strings.NewReader(`{"version":"1.0.0"}`), "application/json")
	req := map[string]any{"namespaces": []string{"@tp"}, "provider": "github-actions", "issuer": idp.Issuer(), "repository": "acme/widgets", "workflow": "release.yml"}
	p := a.json("POST", "/v1/trusted-publishers", "/v1/trusted-publishers", owner, req, 201)
	id, _ := p["id"].(string)
	a.json("POST", "/v1/trusted-publishers", "/v1/trusted-publishers", owner, map[string]any{"namespaces": []string{"@tp"}, "provider": "github-actions"}, 400)
	a.json("GET", "/v1/trusted-publishers", "/v1/trusted-publishers", owner, nil, 200)
	idTok, err := idp.Mint(fakeidp.GitHubClaims(fakeidp.GitHubJob{Repository: "acme/widgets", Workflow: "release.yml"}))
	if err != nil {
		t.Fatal(err)
	}
	ex := url.Values{"grant_type": {trustedpub.GrantTypeTokenExchange}, "subject_token_type": {trustedpub.TokenTypeIDToken}, "subject_token": {idTok}}
	a.form("/oauth/token", "/oauth/token", ex, 200)
	a.form("/oauth/token", "/oauth/token", ex, 400) // replayed
	a.json("DELETE", "/v1/trusted-publishers/{id}", "/v1/trusted-publishers/"+id, owner, nil, 204)
	a.json("DELETE", "/v1/trusted-publishers/{id}", "/v1/trusted-publishers/"+id, owner, nil, 404)
}

// exerciseOrgs drives every organization operation: roles, scopes, the
// policy (and a key refused by it), a member's key revoked by the owner, the
// organization's export and log, offboarding.
func (a *apiSession) exerciseOrgs(ts *testServer) {
	t := a.t
	owner := mintKey(t, ts, "dev", model.EnvSandbox, "orgs:read", "orgs:write", "npm:scope:write", "keys:read", "audit:read")
	mia := mintKey(t, ts, "mia", model.EnvSandbox, "orgs:read", "orgs:write", "keys:read", "keys:write", "registry:read")
	aud := mintKey(t, ts, "aud", model.EnvSandbox, "orgs:read", "orgs:write", "keys:read", "audit:read")
	const org = "/v1/orgs/acme-corp"
	a.json("POST", "/v1/orgs", "/v1/orgs", owner, map[string]any{"slug": "acme-corp", "name": "Acme Corp"}, 201)
	a.json("POST", "/v1/orgs", "/v1/orgs", owner, map[string]any{"slug": "acme-corp"}, 409)
	a.json("POST", "/v1/orgs", "/v1/orgs", owner, map[string]any{"slug": "Not A Slug"}, 400)
	a.json("POST", "/v1/orgs", "/v1/orgs", dev(ts), map[string]any{"slug": "nope"}, 403) // lacks orgs:write
	a.json("GET", "/v1/orgs", "/v1/orgs", owner, nil, 200)
	a.json("GET", "/v1/orgs/{slug}", org, owner, nil, 200)
	a.json("GET", "/v1/orgs/{slug}", "/v1/orgs/nope", owner, nil, 404)

	a.json("PUT", "/v1/orgs/{slug}/namespaces/{scope}", org+"/namespaces/@acme-corp", owner, nil, 201)
	a.json("PUT", "/v1/orgs/{slug}/namespaces/{scope}", org+"/namespaces/@acme-corp", owner, nil, 409)
	a.json("PUT", "/v1/orgs/{slug}/namespaces/{scope}", org+"/namespaces/nope", owner, nil, 400)
	a.json("GET", "/v1/orgs/{slug}/namespaces", org+"/namespaces", owner, nil, 200)

	a.json("POST", "/v1/orgs/{slug}/members", org+"/members", owner, map[string]any{"user": "mia"}, 201)
	a.json("POST", "/v1/orgs/{slug}/members", org+"/members", owner, map[string]any{"user": "aud", "role": "auditor"}, 201)
	a.json("POST", "/v1/orgs/{slug}/members", org+"/members", owner, map[string]any{"user": "mia"}, 409)
	a.json("POST", "/v1/orgs/{slug}/members", org+"/members", owner, map[string]any{"user": "nobody"}, 404)
	a.json("POST", "/v1/orgs/{slug}/members", org+"/members", owner, map[string]any{"user": "mia", "role": "boss"}, 400)
	a.json("POST", "/v1/orgs/{slug}/members/{user}/accept", org+"/members/mia/accept", owner, nil, 404) // not the invited user
	a.json("GET", "/v1/orgs/{slug}/members", org+"/members", owner, nil, 200)                           // with the invitations
	a.json("POST", "/v1/orgs/{slug}/members/{user}/accept", org+"/members/mia/accept", mia, nil, 200)
	a.json("POST", "/v1/orgs/{slug}/members/{user}/accept", org+"/members/aud/accept", aud, nil, 200)
	a.json("POST", "/v1/orgs", "/v1/orgs", owner, map[string]any{"slug": "declined"}, 201)
	a.json("POST", "/v1/orgs/{slug}/members", "/v1/orgs/declined/members", owner, map[string]any{"user": "mia"}, 201)
	a.do("POST", "/v1/orgs/{slug}/members/{user}/decline", "/v1/orgs/declined/members/mia/decline", mia, nil, "")
	if s := a.samples[len(a.samples)-1]; s.status != 204 {
		t.Fatalf("decline: %d %s", s.status, s.body)
	}
	a.json("POST", "/v1/orgs/{slug}/members/{user}/decline", "/v1/orgs/declined/members/mia/decline", mia, nil, 404)
	a.json("GET", "/v1/orgs/{slug}/members", org+"/members", aud, nil, 200)
	a.json("PATCH", "/v1/orgs/{slug}/members/{user}", org+"/members/mia", owner, map[string]any{"role": "admin"}, 200)
	a.json("PATCH", "/v1/orgs/{slug}/members/{user}", org+"/members/dev", owner, map[string]any{"role": "member"}, 409) // the last owner
	a.json("PATCH", "/v1/orgs/{slug}/members/{user}", org+"/members/mia", aud, map[string]any{"role": "owner"}, 403)

	a.json("GET", "/v1/orgs/{slug}/policy", org+"/policy", aud, nil, 200)
	a.json("PATCH", "/v1/orgs/{slug}/policy", org+"/policy", owner, map[string]any{"max_lifetime_seconds": 30 * 86400,
		"allowed_scopes": []string{"registry:read", "registry:publish"}, "required_cidrs": []string{"127.0.0.0/8"}, "audit_token_used": true}, 200)
	a.json("PATCH", "/v1/orgs/{slug}/policy", org+"/policy", owner, map[string]any{}, 400)
	a.json("PATCH", "/v1/orgs/{slug}/policy", org+"/policy", aud, map[string]any{"max_keys": 3}, 403)
	// a key that breaks the policy is refused, naming the rule; one inside it works
	refused := a.json("POST", "/v1/keys", "/v1/keys", mia, map[string]any{"name": "long", "scopes": []string{"registry:read"},
		"expires_in": 60 * 86400, "namespaces": []string{"@acme-corp"}, "cidrs": []string{"127.0.0.0/8"}}, 403)
	if refused["error"] != "policy_violation" || !strings.Contains(fmt.Sprint(refused["error_description"]), "max-lifetime") {
		t.Fatalf("a key beyond max-lifetime: %v", refused)
	}
	k := a.json("POST", "/v1/keys", "/v1/keys", mia, map[string]any{"name": "ci", "scopes": []string{"registry:read"},
		"expires_in": 30 * 86400, "namespaces": []string{"@acme-corp"}, "cidrs": []string{"127.0.0.0/8"}}, 201)
	kid, _ := k["id"].(string)
	a.json("DELETE", "/v1/orgs/{slug}/members/{user}/keys/{id}", org+"/members/mia/keys/"+kid, owner, nil, 200)
	a.json("DELETE", "/v1/orgs/{slug}/members/{user}/keys/{id}", org+"/members/mia/keys/"+kid, owner, nil, 409)
	a.json("DELETE", "/v1/orgs/{slug}/members/{user}/keys/{id}", org+"/members/mia/keys/key_nope", owner, nil, 404)

	// the organization's export and log: every member's keys that reach it
	for _, q := range []string{"?org=acme-corp", "?org=acme-corp&format=json&include_events=true", "?org=acme-corp&format=ndjson", "?org=acme-corp&format=csv"} {
		if s := a.do("GET", "/v1/keys/export", "/v1/keys/export"+q, aud, nil, ""); s.status != 200 {
			t.Fatalf("export%s: %d %s", q, s.status, s.body)
		}
	}
	a.json("GET", "/v1/keys/export", "/v1/keys/export?org=nope", aud, nil, 404)
	a.json("GET", "/v1/audit/events", "/v1/audit/events?org=acme-corp", aud, nil, 200)
	a.json("GET", "/v1/audit/events", "/v1/audit/events?org=acme-corp&type=member:added,policy:changed&limit=1", owner, nil, 200)

	// offboarding, releasing a scope, deleting an organization
	a.json("DELETE", "/v1/orgs/{slug}/members/{user}", org+"/members/aud", owner, nil, 200)
	a.json("DELETE", "/v1/orgs/{slug}/members/{user}", org+"/members/aud", owner, nil, 404)
	a.do("DELETE", "/v1/orgs/{slug}/namespaces/{scope}", org+"/namespaces/@acme-corp", owner, nil, "")
	if s := a.samples[len(a.samples)-1]; s.status != 204 {
		t.Fatalf("release a scope: %d %s", s.status, s.body)
	}
	a.json("DELETE", "/v1/orgs/{slug}/namespaces/{scope}", org+"/namespaces/@acme-corp", owner, nil, 404)
	a.json("POST", "/v1/orgs", "/v1/orgs", owner, map[string]any{"slug": "short-lived"}, 201)
	a.json("DELETE", "/v1/orgs/{slug}", "/v1/orgs/short-lived", mia, nil, 404) // not a member
	a.do("DELETE", "/v1/orgs/{slug}", "/v1/orgs/short-lived", owner, nil, "")
	if s := a.samples[len(a.samples)-1]; s.status != 204 {
		t.Fatalf("delete an organization: %d %s", s.status, s.body)
	}
}

func dev(ts *testServer) string { return ts.Token }

// exerciseWebhooks drives /v1/webhooks: an endpoint on a loopback
// receiver, a key event delivered to it, redelivery, rotation, removal.
func (a *apiSession) exerciseWebhooks(dev string) {
	t := a.t
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()
	a.json("POST", "/v1/webhooks", "/v1/webhooks", dev, map[string]any{"url": "https://10.1.2.3/hook"}, 400)
	a.json("POST", "/v1/webhooks", "/v1/webhooks", dev, map[string]any{"url": recv.URL, "events": []string{"key.nope"}}, 400)
	w := a.json("POST", "/v1/webhooks", "/v1/webhooks", dev, map[string]any{"url": recv.URL, "events": []string{"key.created", "key.revoked"}}, 201)
	id, _ := w["id"].(string)
	a.json("GET", "/v1/webhooks", "/v1/webhooks", dev, nil, 200)
	a.json("GET", "/v1/webhooks", "/v1/webhooks?org=nope", dev, nil, 404)
	a.json("GET", "/v1/webhooks/{id}", "/v1/webhooks/"+id, dev, nil, 200)
	a.json("GET", "/v1/webhooks/{id}", "/v1/webhooks/wh_00", dev, nil, 404)
	a.json("POST", "/v1/keys", "/v1/keys", dev, map[string]any{"name": "hooked", "scopes": []string{"keys:read"}}, 201)
	var dlv string
	for deadline := time.Now().Add(20 * time.Second); dlv == ""; {
		l := a.json("GET", "/v1/webhooks/{id}/deliveries", "/v1/webhooks/"+id+"/deliveries", dev, nil, 200)
		if ds, _ := l["deliveries"].([]any); len(ds) > 0 {
			if d, _ := ds[0].(map[string]any); d["status"] == "delivered" {
				dlv, _ = d["id"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.json("POST", "/v1/webhooks/deliveries/{id}/redeliver", "/v1/webhooks/deliveries/"+dlv+"/redeliver", dev, nil, 202)
	a.json("POST", "/v1/webhooks/deliveries/{id}/redeliver", "/v1/webhooks/deliveries/dlv_00/redeliver", dev, nil, 404)
	a.json("POST", "/v1/webhooks/{id}/rotate-secret", "/v1/webhooks/"+id+"/rotate-secret", dev, nil, 200)
	a.do("DELETE", "/v1/webhooks/{id}", "/v1/webhooks/"+id, dev, nil, "")
	a.json("DELETE", "/v1/webhooks/{id}", "/v1/webhooks/"+id, dev, nil, 404)
}

func TestOpenAPISamplesMatchSchemas(t *testing.T) {
	spec := loadSpec(t)
	// the dev key's rate (10/s) would cut the session short
	reporter, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := fakeidp.New(t) // stands in for GitHub's ID token issuer
	ts := startServer(t, server.Config{DeviceInterval: time.Second, DevRate: 1000,
		SecretScanningKeys: server.ScanningKeys{"test-key": &reporter.PublicKey},
		TrustedPublishing:  server.TrustedPublishing{TrustedIssuers: []string{idp.Issuer()}},
		Notifications:      &server.Notifications{ServerSecret: bytes.Repeat([]byte{1}, 32), DispatchInterval: 20 * time.Millisecond}})
	jar, _ := cookiejar.New(nil)
	a := &apiSession{t: t, base: ts.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	a.exercise(ts)
	a.exerciseLeaks(ts.Token, reporter)
	a.exerciseFederation()
	a.exerciseTrustedPublishing(ts, idp)
	a.exerciseOrgs(ts)
	a.exerciseWebhooks(ts.Token)

	// rate limits: a second server with a tiny anonymous rate
	slow := startServer(t, server.Config{AnonRate: 1})
	a.base = slow.URL
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		limited = a.do("GET", "/v1/auth/health", "/v1/auth/health", "", nil, "").status == 429
	}
	if !limited {
		t.Fatal("no 429 from a server with an anonymous rate of 1/s")
	}

	covered := map[string]bool{}
	for _, s := range a.samples {
		spec.check(t, s)
		if s.status < 400 {
			covered[strings.ToUpper(s.method)+" "+s.path] = true
		}
	}
	var missing []string
	for _, op := range spec.operations(t) {
		if k := strings.ToUpper(op[1]) + " " + op[0]; !covered[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no successful sample for %v: exercise them in this test", missing)
	}
	t.Logf("%d answers validated against %s", len(a.samples), specFile)
}

func (spec *apiSpec) check(t *testing.T, s sample) {
	t.Helper()
	name := fmt.Sprintf("%s %s → %d", s.method, s.path, s.status)
	item, _ := spec.doc["paths"].(map[string]any)[s.path].(map[string]any)
	op, _ := item[strings.ToLower(s.method)].(map[string]any)
	if op == nil {
		t.Errorf("%s: not a documented operation", name)
		return
	}
	r, ok := op["responses"].(map[string]any)[strconv.Itoa(s.status)].(map[string]any)
	if !ok {
		t.Errorf("%s: status not documented (%s)", name, s.body)
		return
	}
	if s.status < 400 {
		spec.checkRequest(t, name, s, op)
	}
	resp, ptr := spec.resolve(t, r, []string{"paths", s.path, strings.ToLower(s.method), "responses", strconv.Itoa(s.status)})
	if s.header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id", name)
	}
	headers, _ := resp["headers"].(map[string]any)
	for h, hv := range headers {
		hm, _ := spec.resolve(t, hv.(map[string]any), nil)
		if req, _ := hm["required"].(bool); req && s.header.Get(h) == "" {
			t.Errorf("%s: the documented header %s is missing", name, h)
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(s.body) != 0 {
			t.Errorf("%s: documented without a body, got %q", name, s.body)
		}
		return
	}
	if len(s.body) == 0 && s.status/100 == 3 {
		return // a redirect's body is optional
	}
	ct, _, err := mime.ParseMediaType(s.header.Get("Content-Type"))
	if err != nil || content[ct] == nil {
		t.Errorf("%s: content type %q is not documented", name, s.header.Get("Content-Type"))
		return
	}
	if s.status != 204 && s.status != 302 && s.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", name, s.header.Get("Cache-Control"))
	}
	sch := spec.schema(t, append(slices.Clone(ptr), "content", ct, "schema"))
	switch ct {
	case "application/json":
		spec.validate(t, name, sch, s.body)
	case "application/x-ndjson":
		lines := strings.Split(strings.TrimRight(string(s.body), "\n"), "\n")
		for _, l := range lines {
			spec.validate(t, name, sch, []byte(l))
		}
	case "text/csv":
		if head, _, _ := strings.Cut(string(s.body), "\n"); head != strings.Join(model.CSVHeader, ",") {
			t.Errorf("%s: CSV header %q", name, head)
		}
		if d, _ := content[ct].(map[string]any)["schema"].(map[string]any)["description"].(string); !strings.Contains(d, strings.Join(model.CSVHeader, ",")) {
			t.Errorf("%s: the documented CSV header is not %s", name, strings.Join(model.CSVHeader, ","))
		}
	case "text/html":
		if s.status/100 != 3 && !bytes.HasPrefix(s.body, []byte("<!doctype html>")) {
			t.Errorf("%s: not an HTML page: %.80s", name, s.body)
		}
	}
}

// checkRequest: a request the server accepted validates against the
// documented request body, so the documentation asks for what works.
func (spec *apiSpec) checkRequest(t *testing.T, name string, s sample, op map[string]any) {
	t.Helper()
	rb, _ := op["requestBody"].(map[string]any)
	if len(s.reqBody) == 0 {
		if req, _ := rb["required"].(bool); req {
			t.Errorf("%s: accepted without the required body", name)
		}
		return
	}
	if rb == nil {
		t.Errorf("%s: accepted a body the documentation does not describe", name)
		return
	}
	content, _ := rb["content"].(map[string]any)
	if content[s.reqType] == nil {
		t.Errorf("%s: request content type %q is not documented", name, s.reqType)
		return
	}
	sch := spec.schema(t, []string{"paths", s.path, strings.ToLower(s.method), "requestBody", "content", s.reqType, "schema"})
	switch s.reqType {
	case "application/json":
		spec.validate(t, name+" (request)", sch, s.reqBody)
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(s.reqBody))
		if err != nil {
			t.Fatal(err)
		}
		obj := map[string]any{}
		for k := range q {
			obj[k] = q.Get(k)
		}
		b, _ := json.Marshal(obj)
		spec.validate(t, name+" (request)", sch, b)
	}
}

func (spec *apiSpec) validate(t *testing.T, name string, sch *jsonschema.Schema, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: not JSON: %v: %.200s", name, err, body)
		return
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: the body does not match the documented schema:\n%v\nbody: %.600s", name, err, body)
	}
}
