package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/keyrules"
	"github.com/codesync/codesync-cli/pkg/server/store"
)

// The registry endpoints are minimal: enough for registry:read,
// registry:publish and namespaces to guard something real.

type packageJSON struct {
	Name      string          `json:"name"`
	Owner     string          `json:"owner"`
	Metadata  json.RawMessage `json:"metadata"`
	UpdatedAt time.Time       `json:"updated_at"`
	Org       string          `json:"org,omitempty"` // the organization it was handed to
}

func (s *Server) putPackage(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	name := r.PathValue("name")
	if !keyrules.ValidPackage(name) {
		return badRequest("package names look like @scope/name (lower case)")
	}
	if !keyrules.NamespaceAllows(c.Namespaces, name) {
		e := insufficientScope("registry:publish")
		e.desc = "this key may not publish outside its namespaces"
		return e
	}
	orgID, e := s.checkOrgPublish(r, c, name)
	if e != nil {
		return e
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return errf(http.StatusRequestEntityTooLarge, "request_too_large", "the body is larger than %d bytes", maxBody)
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return badRequest("the body must be a JSON object of package metadata")
	}
	p := &store.Package{Name: name, UserID: c.User.ID, Metadata: body, UpdatedAt: s.now(), OrgID: orgID}
	scope, _, _ := strings.Cut(name, "/")
	switch err := s.store.PutPackage(r.Context(), p, c.HasScope("npm:scope:write")); {
	case errors.Is(err, store.ErrExists):
		return errf(http.StatusForbidden, "insufficient_scope", "the package %s belongs to another user", name)
	case errors.Is(err, store.ErrScopeOwned):
		return errf(http.StatusForbidden, "insufficient_scope", "the npm scope %s belongs to another user: publishing into it is refused", scope)
	case errors.Is(err, store.ErrScopeUnclaimed):
		e := insufficientScope("npm:scope:write")
		e.desc = fmt.Sprintf("the npm scope %s is not claimed yet: claiming it needs the scope npm:scope:write", scope)
		return e
	case err != nil:
		return s.internal(err)
	}
	writeJSON(w, http.StatusOK, packageJSON{Name: name, Owner: c.User.Name, Metadata: body, UpdatedAt: p.UpdatedAt.Truncate(time.Second)})
	return nil
}

func (s *Server) getPackage(w http.ResponseWriter, r *http.Request, c *Credential) *apiError {
	p, err := s.store.GetPackage(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("package")
	} else if err != nil {
		return s.internal(err)
	}
	owner := ""
	if u, err := s.store.UserByID(r.Context(), p.UserID); err == nil {
		owner = u.Name
	}
	writeJSON(w, http.StatusOK, packageJSON{Name: p.Name, Owner: owner, Metadata: p.Metadata, UpdatedAt: p.UpdatedAt, Org: s.orgSlug(r.Context(), p.OrgID)})
	return nil
}
