package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/redact"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// Leaked-token defence: GitHub's secret-scanning partner endpoint, which
// revokes reported keys at once, and the hash-only check behind `scan --check`.

// ScanningKeys are the public keys that may sign secret-scanning reports,
// by key identifier (GITHUB-PUBLIC-KEY-IDENTIFIER).
type ScanningKeys map[string]*ecdsa.PublicKey

// Headers of GitHub's secret-scanning partner program.
const (
	HeaderScanningKeyID     = "GITHUB-PUBLIC-KEY-IDENTIFIER"
	HeaderScanningSignature = "GITHUB-PUBLIC-KEY-SIGNATURE"
)

const (
	// eventScanningRefused is recorded (with no user) for each refused
	// report; health counts them. It is not a user-visible event type.
	eventScanningRefused = "secret_scanning:refused"
	maxReportBody        = 1 << 20
	maxReportItems       = 1000
	maxCheckHashes       = 100
	// checkRate bounds POST /v1/keys/check per credential, on top of the
	// credential's general cap: 1 request a second, burst 2, 100 hashes each.
	checkRate = rate.Limit(1)
)

// ParseScanningKeys reads the --secret-scanning-keys file: either PEM
// "PUBLIC KEY" blocks (ECDSA P-256), each named by a "Key-Identifier" PEM
// header (else by the hex SHA-256 of its DER encoding), or the JSON that
// GitHub publishes at /meta/public_keys/secret_scanning
// ({"public_keys":[{"key_identifier","key"}]}).
func ParseScanningKeys(data []byte) (ScanningKeys, error) {
	keys := ScanningKeys{}
	add := func(id string, der []byte) error {
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return fmt.Errorf("key %q: %w", id, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return fmt.Errorf("key %q: not an ECDSA P-256 public key", id)
		}
		if id == "" {
			sum := sha256.Sum256(der)
			id = hex.EncodeToString(sum[:])
		}
		if _, dup := keys[id]; dup {
			return fmt.Errorf("key identifier %q appears twice", id)
		}
		keys[id] = ec
		return nil
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var doc struct {
			PublicKeys []struct {
				KeyIdentifier string `json:"key_identifier"`
				Key           string `json:"key"`
			} `json:"public_keys"`
		}
		if err := json.Unmarshal(t, &doc); err != nil {
			return nil, fmt.Errorf("not GitHub's public key JSON: %w", err)
		}
		for _, k := range doc.PublicKeys {
			b, _ := pem.Decode([]byte(k.Key))
			if b == nil || k.KeyIdentifier == "" {
				return nil, fmt.Errorf("key %q: no identifier or no PEM key", k.KeyIdentifier)
			}
			if err := add(k.KeyIdentifier, b.Bytes); err != nil {
				return nil, err
			}
		}
	} else {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "PUBLIC KEY" {
				return nil, fmt.Errorf("unexpected PEM block %q: only PUBLIC KEY blocks belong here", b.Type)
			}
			if err := add(b.Headers["Key-Identifier"], b.Bytes); err != nil {
				return nil, err
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key found")
	}
	return keys, nil
}

// refuseReport counts a refused report (for health) and answers 403.
func (s *Server) refuseReport(r *http.Request, reason string) *apiError {
	ip := remoteAddr(r).String()
	_ = s.store.AddEvent(r.Context(), &store.Event{Type: eventScanningRefused, Time: s.now(), Actor: "secret-scanning", IP: &ip,
		Detail: clean(reason, 300)})
	s.cfg.Logger.Warn("secret-scanning report refused", "reason", reason, "ip", ip)
	return errf(http.StatusForbidden, "invalid_signature", "%s", reason)
}

// secretScanningReport is POST /v1/secret-scanning/report: a JSON array of
// {token, type, url, source} signed with ECDSA P-256 over the raw body.
// Each reported token that is a CodeSync key is revoked at once if still
// usable, and a token:leaked event records where it was found.
func (s *Server) secretScanningReport(w http.ResponseWriter, r *http.Request) *apiError {
	if len(s.cfg.SecretScanningKeys) == 0 {
		return errf(http.StatusNotFound, "not_found", "this server takes no secret-scanning reports (start it with --secret-scanning-keys)")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReportBody))
	if err != nil {
		return errf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is larger than %d bytes", maxReportBody)
	}
	id := r.Header.Get(HeaderScanningKeyID)
	pub, ok := s.cfg.SecretScanningKeys[id]
	if !ok {
		return s.refuseReport(r, fmt.Sprintf("unknown key identifier %q", clean(id, 100)))
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(HeaderScanningSignature))
	if err != nil || len(sig) == 0 {
		return s.refuseReport(r, "missing or malformed "+HeaderScanningSignature)
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return s.refuseReport(r, "the signature does not match the body for key "+clean(id, 100))
	}
	var reports []model.SecretScanningReport
	if err := json.Unmarshal(body, &reports); err != nil {
		return badRequest("the body must be a JSON array of {token, type, url, source}")
	}
	if len(reports) > maxReportItems {
		return badRequest("at most %d tokens a report", maxReportItems)
	}
	out := make([]model.SecretScanningLabel, 0, len(reports))
	for _, rep := range reports {
		lbl, e := s.reportOne(r, id, rep)
		if e != nil {
			return e
		}
		out = append(out, lbl)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) reportOne(r *http.Request, keyID string, rep model.SecretScanningReport) (model.SecretScanningLabel, *apiError) {
	h := token.Hash(rep.Token)
	lbl := model.SecretScanningLabel{TokenHash: hex.EncodeToString(h), TokenType: clean(rep.Type, 100), Label: "false_positive"}
	if _, err := token.Parse(rep.Token); err != nil {
		return lbl, nil
	}
	now := s.now()
	ip := remoteAddr(r).String()
	where := fmt.Sprintf("found at %s (source %s, type %s, reported with key %s)",
		clean(rep.URL, 2048), clean(rep.Source, 100), clean(rep.Type, 100), clean(keyID, 100))
	k, pred, revokedNow, err := s.store.RevokeLeaked(r.Context(), h, now, func(k *store.KeyRecord, revokedNow bool) []*store.Event {
		ev := []*store.Event{{UserID: &k.UserID, Type: model.EventTokenLeaked, Time: now, Actor: "secret-scanning", KeyID: &k.ID, IP: &ip}}
		if revokedNow {
			ev[0].Detail = "leaked: " + where + "; revoked at once"
			ev = append(ev, &store.Event{UserID: &k.UserID, Type: model.EventTokenRevoked, Time: now, Actor: "secret-scanning", KeyID: &k.ID, IP: &ip,
				Detail: "revoked: reported as leaked by secret scanning"})
		} else {
			ev[0].Detail = "leaked: " + where + "; the key was no longer usable (" + k.Status(now, keyrules.ExpiringIn) + ")"
		}
		return ev
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return lbl, nil
	case err != nil:
		return lbl, s.internal(err)
	}
	// the credential cache must not keep a revoked key alive for its TTL
	s.creds.drop(k.TokenHash)
	if pred != nil {
		s.creds.drop(pred.TokenHash)
	}
	if revokedNow {
		s.cfg.Logger.Warn("leaked key revoked", "key_id", k.ID, "prefix", k.Prefix)
	}
	lbl.Label = "true_positive"
	return lbl, nil
}

// clean makes reporter-supplied text safe for an event's detail: printable,
// bounded, and with any secret in it redacted.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		cut := 0
		for i := range s {
			if i > max {
				break
			}
			cut = i
		}
		s = s[:cut] + "…"
	}
	return redact.String(s)
}

// checkKeys is POST /v1/keys/check: the status of keys named by the SHA-256
// of their tokens. Key IDs and names are only given for the caller's keys.
func (s *Server) checkKeys(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	if d, ok := s.limits.allow("keys-check:"+c.ID, checkRate, s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", desc: "too many key checks: at most one request a second", retryAfter: d}
	}
	var req model.KeyCheckRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if len(req.SHA256) == 0 || len(req.SHA256) > maxCheckHashes {
		return badRequest("sha256 must hold 1 to %d hashes", maxCheckHashes)
	}
	now := s.now()
	out := model.KeyCheckResponse{Results: make([]model.KeyCheckResult, 0, len(req.SHA256))}
	for _, hx := range req.SHA256 {
		hx = strings.ToLower(hx)
		h, err := hex.DecodeString(hx)
		if err != nil || len(h) != sha256.Size {
			return badRequest("each sha256 must be 64 hexadecimal characters")
		}
		res := model.KeyCheckResult{SHA256: hx, Status: model.KeyStatusUnknown}
		k, err := s.store.KeyByHash(r.Context(), h)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return s.internal(err)
		default:
			res.Status = k.Status(now, keyrules.ExpiringIn)
			if k.UserID == c.User.ID {
				res.Owned, res.KeyID, res.Name = true, &k.ID, &k.Name
			}
		}
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scanningRefusedSince counts refused reports (health).
func (s *Server) scanningRefusedSince(r *http.Request, since time.Time) (int, error) {
	return s.store.CountEvents(r.Context(), eventScanningRefused, since)
}
