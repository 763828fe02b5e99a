package mail

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/codesync/codesync-cli/pkg/notify"
)

// Notice is what an expiry notice says.
type Notice struct {
	KeyID     string
	KeyName   string
	ExpiresAt time.Time
	Threshold notify.Threshold
	Server    string // the server's URL, for the --server hint (optional)
}

// noticeText holds the notice templates; parsed per notice (rare) rather than
// at start-up, which keeps them off the binary's start-up path.
const noticeText = `

{{- define "soon" -}}
Your CodeSync API key expires in {{.Days}}.

  Key:     {{.KeyName}} ({{.KeyID}})
  Expires: {{utc .ExpiresAt}}

Rotate it before then; the old key keeps working for 24 hours while your
pipelines switch to the new one:

  codesync-cli key rotate {{.KeyID}}{{.ServerFlag}}

If you no longer need the key, do nothing: it stops working at expiry, and you
will get one more notice then.
{{template "footer" .}}
{{- end -}}
{{- define "expired" -}}
Your CodeSync API key has expired and no longer works.

  Key:     {{.KeyName}} ({{.KeyID}})
  Expired: {{utc .ExpiresAt}}

An expired key can no longer be rotated (codesync-cli key rotate {{.KeyID}}
is refused). If something still needs it, create a replacement:

  codesync-cli key create {{.KeyName}}{{.ServerFlag}}

{{template "footer" .}}
{{- end -}}
{{- define "footer" -}}
--
This notice was sent by the CodeSync server{{if .Server}} at {{.Server}}{{end}} because you own this key.
You get it 14 days and 3 days before expiry, and at expiry.
{{end -}}
`

func noticeTemplates() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	}).Parse(noticeText))
}

type noticeData struct {
	Notice
	Days       string
	ServerFlag string
}

// RenderNotice returns the subject and plain-text body of n.
func RenderNotice(n Notice) (subject, body string, err error) {
	if !n.Threshold.Valid() {
		return "", "", fmt.Errorf("mail: notice threshold %q", n.Threshold)
	}
	if strings.ContainsAny(n.KeyName+n.KeyID, "\r\n") {
		return "", "", fmt.Errorf("mail: line break in key name or id")
	}
	d := noticeData{Notice: n}
	if n.Server != "" {
		d.ServerFlag = " --server " + n.Server
	}
	var b strings.Builder
	switch n.Threshold {
	case notify.Before14d, notify.Before3d:
		d.Days = map[notify.Threshold]string{notify.Before14d: "14 days", notify.Before3d: "3 days"}[n.Threshold]
		subject = fmt.Sprintf("CodeSync API key %q expires in %s", n.KeyName, d.Days)
		err = noticeTemplates().ExecuteTemplate(&b, "soon", d)
	default:
		subject = fmt.Sprintf("CodeSync API key %q has expired", n.KeyName)
		err = noticeTemplates().ExecuteTemplate(&b, "expired", d)
	}
	return subject, b.String(), err
}

// NoticeMessage is the message for n to address to: RenderNotice plus a
// Message-ID fixed by key and threshold, so a notice sent again after a crash
// carries the same id.
func NoticeMessage(to string, n Notice) (Message, error) {
	subject, body, err := RenderNotice(n)
	if err != nil {
		return Message{}, err
	}
	return Message{
		To: to, Subject: subject, Body: body,
		MessageID: "notice." + sanitizeID(n.KeyID) + "." + string(n.Threshold),
	}, nil
}

func sanitizeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
