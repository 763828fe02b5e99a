package server

import (
	"html/template"
	"net/http"
	"sync"

	"github.com/codesync/codesync-cli/pkg/token"
)

const csrfCookie = "codesync_csrf"

type pageData struct {
	Title    string
	Client   string
	Scopes   []string
	Action   string
	Device   bool
	UserCode string
	Username string
	Error    string
	Message  string
	CSRF     string
	// federated sign-in: the "Sign in with" links, the person signed in
	// through a provider (then the form asks only to approve or deny), and
	// whether the password form is offered
	Providers    []providerLink
	SignedInAs   string
	SignedInWith string
	LocalLogin   bool
}

// providerLink is one "Sign in with NAME" link.
type providerLink struct {
	Name string
	URL  string
}

// One small page for sign-in, consent and device approval: a form posted back
// to the same URL with username, password, csrf_token, user_code (device
// only) and a submit button action=approve|deny.
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · CodeSync</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem;font-size:1rem}
.err{color:#a00}.scopes code{background:#eee;padding:0 .3rem}button{margin:1rem .5rem 0 0;padding:.5rem 1rem;font-size:1rem}</style>
</head><body>
<h1>{{.Title}}</h1>
{{if .Message}}<p id="message">{{.Message}}</p>{{else}}
{{if .Client}}<p><strong>{{.Client}}</strong> asks for access to your CodeSync account{{if .Scopes}} with these scopes:{{else}}.{{end}}</p>
{{if .Scopes}}<ul class="scopes">{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}{{end}}
{{if .Error}}<p class="err" id="error">{{.Error}}</p>{{end}}
{{if .SignedInAs}}<p id="signed-in">Signed in as <strong>{{.SignedInAs}}</strong> with {{.SignedInWith}}.</p>
{{else if .Providers}}<p class="providers">{{range .Providers}}<a class="provider" href="{{.URL}}">Sign in with {{.Name}}</a><br>{{end}}</p>{{end}}
{{if or .SignedInAs .LocalLogin}}<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{if .Device}}<label for="user_code">Code shown in your terminal</label>
<input type="text" id="user_code" name="user_code" value="{{.UserCode}}" autocomplete="off" placeholder="XXXX-XXXX">{{end}}
{{if not .SignedInAs}}<label for="username">User name</label>
<input type="text" id="username" name="username" value="{{.Username}}" autocomplete="username">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">{{end}}
<button type="submit" name="action" value="approve" id="approve">Approve</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>{{end}}{{end}}
</body></html>`))
})

func (s *Server) page(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	// form-action names the loopback callbacks: Chromium applies it to the
	// redirect that follows the sign-in form, too
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:* http://localhost:* http://[::1]:*; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTmpl().Execute(w, d)
}

// formPage renders the form with a fresh CSRF token and its cookie.
func (s *Server) formPage(w http.ResponseWriter, d pageData) {
	d.CSRF = token.RandomString(32)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: d.CSRF, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: false, MaxAge: 900})
	status := http.StatusOK
	if d.Error != "" {
		status = http.StatusBadRequest
	}
	s.page(w, status, d)
}
