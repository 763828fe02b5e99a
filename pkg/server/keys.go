package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/policy"
	"github.com/codesync/codesync-cli/pkg/server/store"
	"github.com/codesync/codesync-cli/pkg/token"
)

// DefaultGrace is how long a rotated key keeps working when no grace is given.
const DefaultGrace = 24 * time.Hour

// MaxGrace bounds the grace period.
const MaxGrace = 30 * 24 * time.Hour

// keyJSON renders a stored key as the contract's key object.
func (s *Server) keyJSON(k *store.KeyRecord) model.Key {
	return model.Key{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, Environment: k.Environment,
		Scopes: k.Scopes, CIDRs: k.CIDRs, Namespaces: k.Namespaces,
		Status: k.Status(s.now(), keyrules.ExpiringIn), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		LastUsedAt: k.LastUsedAt, LastUsedIP: k.LastUsedIP, RevokedAt: k.RevokedAt,
		RotatedFrom: k.RotatedFrom, RotatedTo: k.RotatedTo,
		Owner: s.ownerName(k.UserID), PolicyViolations: s.policyMarks(k),
	}
}

func newKeyID() string { return "key_" + token.RandomString(16) }

func validName(n string) bool {
	if n == "" || len(n) > 64 || !utf8.ValidString(n) {
		return false
	}
	for _, r := range n {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	var req model.CreateKeyRequest
	if e := decodeBody(w, r, &req); e != nil {
		return e
	}
	if !validName(req.Name) {
		return badRequest("name must be 1 to 64 printable characters (valid UTF-8)")
	}
	scopes, err := keyrules.CheckScopes(req.Scopes)
	if err != nil {
		return badRequest("%s", err)
	}
	ask := policy.Request{Grant: policy.Grant{Scopes: scopes, Environment: req.Environment}}
	now := s.now().Truncate(time.Second)
	if req.ExpiresIn != 0 {
		d, e := expirySeconds(req.ExpiresIn)
		if e != nil {
			return e
		}
		ask.ExpiresAt = now.Add(d)
	}
	// omitted lists inherit the creator's limits; given ones must lie inside
	if req.CIDRs != nil {
		if ask.CIDRs, err = keyrules.CheckCIDRs(req.CIDRs); err != nil {
			return badRequest("%s", err)
		}
	}
	if req.Namespaces != nil {
		if ask.Namespaces, err = keyrules.CheckNamespaces(req.Namespaces); err != nil {
			return badRequest("%s", err)
		}
	}
	if env := req.Environment; env != "" && env != model.EnvProduction && env != model.EnvSandbox {
		return badRequest("environment must be production or sandbox")
	}
	if req.Environment == model.EnvProduction && s.cfg.Environment == model.EnvSandbox {
		return badRequest("this sandbox server issues only sandbox keys")
	}
	g, e := s.boundKey(r, c, ask, "a new key")
	if e != nil {
		return e
	}
	if g.Environment == model.EnvProduction && s.cfg.Environment == model.EnvSandbox {
		g.Environment = model.EnvSandbox
	}
	tokEnv := "prod"
	if g.Environment == model.EnvSandbox {
		tokEnv = "dev"
	}
	tok := token.New(tokEnv)
	k := &store.KeyRecord{
		ID: newKeyID(), UserID: c.User.ID, Name: req.Name, Prefix: token.Prefix(tok), TokenHash: token.Hash(tok),
		Environment: g.Environment, Scopes: g.Scopes, CIDRs: g.CIDRs, Namespaces: g.Namespaces,
		CreatedAt: now, ExpiresAt: g.ExpiresAt.Truncate(time.Second),
	}
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventTokenCreated, Time: now, Actor: c.User.Name, KeyID: &k.ID, IP: &ip,
		Detail: fmt.Sprintf("name=%q scopes=%s env=%s expires=%s", k.Name, strings.Join(k.Scopes, ","), k.Environment, k.ExpiresAt.Format(time.RFC3339))}
	if err := s.store.CreateKey(r.Context(), k, keyrules.MaxActive, ev); err != nil {
		if errors.Is(err, store.ErrKeyLimit) {
			return errf(http.StatusConflict, "key_limit_reached", "a user holds at most %d active keys: revoke one first", keyrules.MaxActive)
		}
		return s.internal(err)
	}
	writeJSON(w, http.StatusCreated, model.KeyWithToken{Key: s.keyJSON(k), Token: tok})
	return nil
}

// expirySeconds reads an expires_in: whole seconds from 1 h to 365 d, checked
// before any arithmetic so that no value wraps around.
func expirySeconds(n int64) (time.Duration, *apiError) {
	if n < int64(keyrules.MinExpiry/time.Second) || n > int64(keyrules.MaxExpiry/time.Second) {
		return 0, badRequest("expires_in must be from %d to %d seconds (1h to 365d)", int64(keyrules.MinExpiry/time.Second), int64(keyrules.MaxExpiry/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) internal(err error) *apiError {
	s.cfg.Logger.Error("internal error", "error", err)
	return errf(http.StatusInternalServerError, "server_error", "internal error")
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 's' {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b[1:]), 10, 64)
	return v, err == nil && v >= 0
}

func parseLimit(r *http.Request, def, max int) (int, *apiError) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit must be a whole number from 1 to %d", max)
	}
	return n, nil
}

func parseBool(v string) (bool, bool) {
	switch v {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	return false, false
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	q := r.URL.Query()
	limit, e := parseLimit(r, 50, 100)
	if e != nil {
		return e
	}
	after, ok := decodeCursor(q.Get("cursor"))
	if !ok {
		return badRequest("malformed cursor")
	}
	all, ok := parseBool(q.Get("all"))
	if !ok {
		return badRequest("all must be true or false")
	}
	keys, err := s.store.ListKeys(r.Context(), c.User.ID, all, after, limit+1, s.now())
	if err != nil {
		return s.internal(err)
	}
	out := model.KeyList{Keys: []model.Key{}}
	for i, k := range keys {
		if i == limit {
			next := encodeCursor(keys[i-1].Seq)
			out.NextCursor = &next
			break
		}
		out.Keys = append(out.Keys, s.keyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	k, err := s.store.KeyByID(r.Context(), c.User.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("key")
	} else if err != nil {
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	id := r.PathValue("id")
	now := s.now()
	ip := remoteAddr(r).String()
	ev := &store.Event{UserID: &c.User.ID, Type: model.EventTokenRevoked, Time: now, Actor: c.User.Name, KeyID: &id, IP: &ip, Detail: "revoked"}
	k, pred, err := s.store.RevokeKey(r.Context(), c.User.ID, id, now, ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("key")
	case errors.Is(err, store.ErrAlreadyRevoked):
		return errf(http.StatusConflict, "already_revoked", "the key %s is already revoked", id)
	case err != nil:
		return s.internal(err)
	}
	s.creds.drop(k.TokenHash)
	if pred != nil {
		s.creds.drop(pred.TokenHash)
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
	return nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	var req model.RotateKeyRequest
	if r.ContentLength != 0 {
		if e := decodeBody(w, r, &req); e != nil {
			return e
		}
	}
	grace := DefaultGrace
	if req.GraceSeconds != nil {
		if g := *req.GraceSeconds; g < 0 || g > int64(MaxGrace/time.Second) {
			return badRequest("grace_seconds must be from 0 to %d", int64(MaxGrace/time.Second))
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
	}
	now := s.now().Truncate(time.Second)
	var askExpiry time.Time
	if req.ExpiresIn != 0 {
		d, e := expirySeconds(req.ExpiresIn)
		if e != nil {
			return e
		}
		askExpiry = now.Add(d)
	}
	// the organizations' policies, read before the rotation's transaction
	// (the replacement does not count the key it replaces)
	org, err := s.orgLimitsFor(r.Context(), c.User.ID, true, r.PathValue("id"))
	if err != nil {
		return s.internal(err)
	}
	var idem *store.Idem
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 200 {
			return badRequest("Idempotency-Key is longer than 200 characters")
		}
		// keyed by the key rotated, not the body: a rerun after a crash with
		// other flags still gets the rotation that already happened
		idem = sealedIdem(k, "rotate "+r.PathValue("id"), c.binding())
	}
	var tok, what string
	var refused *apiError
	var refusal *policy.Error
	var grant policy.Grant
	ip := remoteAddr(r).String()
	st, err := s.store.RotateKey(r.Context(), store.RotateParams{
		UserID: c.User.ID, OldID: r.PathValue("id"), Now: now, GraceTo: now.Add(grace), Idem: idem,
		New: &store.KeyRecord{ID: newKeyID(), CreatedAt: now},
		// the replacement has the old key's rights: the caller must hold
		// them all, and this is checked before any answer is replayed
		Authorize: func(old *store.KeyRecord) error {
			ask := policy.Request{Grant: policy.Grant{Scopes: old.Scopes, Namespaces: old.Namespaces, CIDRs: old.CIDRs,
				Environment: old.Environment, ExpiresAt: askExpiry}}
			// no expires_in: the replacement gets the old key's lifetime
			// (still cut to the rotating credential's expiry)
			ask.DefaultLife = min(max(old.ExpiresAt.Sub(old.CreatedAt), keyrules.MinExpiry), keyrules.MaxExpiry)
			what = "a rotation of " + old.ID
			if grant, refusal, refused = s.checkCeiling(c.Ceiling(), ask, org); refused != nil {
				return errEscalation
			}
			return nil
		},
		Prepare: func(old, nw *store.KeyRecord) error {
			defer s.creds.drop(old.TokenHash) // its expiry changes
			nw.ExpiresAt = grant.ExpiresAt.Truncate(time.Second)
			env := "prod"
			if old.Environment == model.EnvSandbox {
				env = "dev"
			}
			tok = token.New(env)
			nw.Prefix, nw.TokenHash = token.Prefix(tok), token.Hash(tok)
			return nil
		},
		GraceEnded: func(pred *store.KeyRecord) *store.Event {
			s.creds.drop(pred.TokenHash)
			return &store.Event{UserID: &c.User.ID, Type: model.EventTokenRevoked, Time: now, Actor: c.User.Name, KeyID: &pred.ID, IP: &ip,
				Detail: "grace ended: its successor " + *pred.RotatedTo + " was rotated (a key has at most one predecessor in grace)"}
		},
		Events: func(old, nw *store.KeyRecord) []*store.Event {
			evs := []*store.Event{
				{UserID: &c.User.ID, Type: model.EventTokenCreated, Time: now, Actor: c.User.Name, KeyID: &nw.ID, IP: &ip,
					Detail: fmt.Sprintf("rotation of %s", old.ID)},
				{UserID: &c.User.ID, Type: model.EventTokenRotated, Time: now, Actor: c.User.Name, KeyID: &old.ID, IP: &ip,
					Detail: fmt.Sprintf("replaced by %s; old key works until %s", nw.ID, oldEnd(old).Format(time.RFC3339))},
			}
			if old.RevokedAt != nil {
				evs = append(evs, &store.Event{UserID: &c.User.ID, Type: model.EventTokenRevoked, Time: now, Actor: c.User.Name, KeyID: &old.ID, IP: &ip,
					Detail: "revoked by a rotation with no grace period"})
			}
			return evs
		},
		Render: func(old, nw *store.KeyRecord) (store.Stored, error) {
			b, err := json.Marshal(model.RotateKeyResponse{Old: s.keyJSON(old), New: model.KeyWithToken{Key: s.keyJSON(nw), Token: tok}})
			return store.Stored{Status: http.StatusOK, Body: b}, err
		},
	})
	switch {
	case errors.Is(err, errEscalation):
		if refusal != nil {
			s.recordRefusal(r, c, what, refusal) // after the transaction
		}
		return refused
	case errors.Is(err, store.ErrNotFound):
		return notFound("key")
	case errors.Is(err, store.ErrAlreadyRevoked):
		if k, kerr := s.store.KeyByID(r.Context(), c.User.ID, r.PathValue("id")); kerr == nil && k.RotatedTo != nil {
			return errf(http.StatusConflict, "already_revoked", "the key %s was already rotated: rotate its replacement %s instead", k.ID, *k.RotatedTo)
		}
		return errf(http.StatusConflict, "already_revoked", "the key %s is revoked", r.PathValue("id"))
	case errors.Is(err, store.ErrIdempotencyKey):
		return errf(http.StatusUnprocessableEntity, "invalid_request", "this Idempotency-Key was used for another request")
	case errors.Is(err, store.ErrIdempotencyCredential):
		return errf(http.StatusUnprocessableEntity, "invalid_request", "this Idempotency-Key was used by another credential: only the credential that asked first gets its answer")
	case err != nil:
		return s.internal(err)
	}
	body := st.Body
	if st.Replayed {
		if body, err = s.refreshReplay(r, c, body); err != nil {
			return s.internal(err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st.Status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// refreshReplay renders a remembered rotation with both keys as they are now:
// a replay after the new key was revoked says so.
func (s *Server) refreshReplay(r *http.Request, c *Credential, body []byte) ([]byte, error) {
	var resp model.RotateKeyResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	if k, err := s.store.KeyByID(r.Context(), c.User.ID, resp.Old.ID); err == nil {
		resp.Old = s.keyJSON(k)
	}
	if k, err := s.store.KeyByID(r.Context(), c.User.ID, resp.New.ID); err == nil {
		resp.New.Key = s.keyJSON(k)
	}
	return json.Marshal(resp)
}

var errEscalation = errors.New("scope escalation")

func oldEnd(k *store.KeyRecord) time.Time {
	if k.RevokedAt != nil {
		return *k.RevokedAt
	}
	return k.ExpiresAt
}

// scopesSubset reports whether every scope of a is in b.
func scopesSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// sealedIdem keys a stored answer by a hash of the Idempotency-Key and
// encrypts it (AES-256-GCM) with another hash of the same key: the database
// alone cannot reveal the token in a remembered rotation; only the client that
// holds the Idempotency-Key can have it back.
func sealedIdem(key, request, credential string) *store.Idem {
	id := sha256.Sum256([]byte("codesync idempotency id\x00" + key))
	ek := sha256.Sum256([]byte("codesync idempotency enc\x00" + key))
	block, _ := aes.NewCipher(ek[:])
	gcm, _ := cipher.NewGCM(block)
	return &store.Idem{
		Key:        hex.EncodeToString(id[:]),
		Request:    request,
		Credential: credential,
		Seal: func(plain []byte) []byte {
			nonce := make([]byte, gcm.NonceSize())
			_, _ = rand.Read(nonce)
			return gcm.Seal(nonce, nonce, plain, nil)
		},
		Open: func(sealed []byte) ([]byte, error) {
			if len(sealed) < gcm.NonceSize() {
				return nil, errors.New("short")
			}
			return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
		},
	}
}
