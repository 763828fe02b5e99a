package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/codesync/codesync-cli/pkg/model"
	"github.com/codesync/codesync-cli/pkg/orgpolicy"
)

// Organization errors.
var (
	ErrLastOwner = errors.New("an organization keeps at least one owner")
)

// Org is an organization with its policy.
type Org struct {
	ID             int64
	Slug           string
	Name           string
	CreatedAt      time.Time
	Policy         orgpolicy.Policy
	AuditTokenUsed bool
}

// OrgMembership is an organization seen from one member.
type OrgMembership struct {
	Org  *Org
	Role string
}

// MemberRecord is one member.
type MemberRecord struct {
	UserID  int64
	Name    string
	Role    string
	AddedAt time.Time
}

const orgCols = `id, slug, name, created_at, policy_max_lifetime, policy_allowed_scopes, policy_required_cidrs, policy_max_keys, policy_audit_token_used`

func scanOrg(row interface{ Scan(...any) error }, extra ...any) (*Org, error) {
	var o Org
	var created int64
	var life, maxKeys sql.NullInt64
	var scopes, cidrs sql.NullString
	dest := append([]any{&o.ID, &o.Slug, &o.Name, &created, &life, &scopes, &cidrs, &maxKeys, &o.AuditTokenUsed}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	o.CreatedAt = fromUnix(created)
	if life.Valid {
		o.Policy.MaxLifetime = time.Duration(life.Int64) * time.Second
	}
	if scopes.Valid {
		o.Policy.AllowedScopes = splitList(scopes.String)
	}
	if cidrs.Valid {
		o.Policy.RequiredCIDRs = splitList(cidrs.String)
	}
	if maxKeys.Valid {
		o.Policy.MaxKeys = int(maxKeys.Int64)
	}
	return &o, nil
}

// insertOrgEvent records ev in the organization's log (and in a user's log
// when ev.UserID is set).
func insertOrgEvent(tx *sql.Tx, orgID int64, e *Event) error {
	_, err := tx.Exec(`INSERT INTO audit_events (user_id, org_id, type, time, actor, key_id, ip, detail) VALUES (?,?,?,?,?,?,?,?)`,
		e.UserID, orgID, e.Type, unix(e.Time), e.Actor, e.KeyID, e.IP, e.Detail)
	return err
}

// CreateOrg creates an organization with owner as its first owner;
// ErrExists when the slug is taken.
func (s *Store) CreateOrg(ctx context.Context, slug, name string, ownerID int64, now time.Time, ev *Event) (*Org, error) {
	o := &Org{Slug: slug, Name: name, CreatedAt: now.UTC().Truncate(time.Second)}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO orgs (slug, name, created_at) VALUES (?,?,?)`, slug, name, unix(now))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return ErrExists
			}
			return err
		}
		if o.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO org_members (org_id, user_id, role, added_at) VALUES (?,?,?,?)`, o.ID, ownerID, model.RoleOwner, unix(now)); err != nil {
			return err
		}
		return insertOrgEvent(tx, o.ID, ev)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// OrgByID finds an organization.
func (s *Store) OrgByID(ctx context.Context, id int64) (*Org, error) {
	return scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id))
}

// OrgBySlug finds an organization.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*Org, error) {
	return scanOrg(s.db.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE slug = ?`, slug))
}

// OrgsOfUser lists the organizations userID belongs to, with the role, by slug.
func (s *Store) OrgsOfUser(ctx context.Context, userID int64) ([]OrgMembership, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.slug, o.name, o.created_at, o.policy_max_lifetime, o.policy_allowed_scopes,
		o.policy_required_cidrs, o.policy_max_keys, o.policy_audit_token_used, m.role
		FROM orgs o JOIN org_members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.slug`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OrgMembership
	for rows.Next() {
		var role string
		o, err := scanOrg(rows, &role)
		if err != nil {
			return nil, err
		}
		out = append(out, OrgMembership{Org: o, Role: role})
	}
	return out, rows.Err()
}

// DeleteOrg removes an organization: its members, scopes and marks go with
// it; packages it was handed return to their publishers. Its events stay.
func (s *Store) DeleteOrg(ctx context.Context, orgID int64, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE packages SET org_id = NULL WHERE org_id = ?`, orgID); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM org_members WHERE org_id = ?`, `DELETE FROM org_invitations WHERE org_id = ?`, `DELETE FROM scope_owners WHERE org_id = ?`,
			`DELETE FROM org_key_violations WHERE org_id = ?`, `DELETE FROM orgs WHERE id = ?`} {
			if _, err := tx.Exec(q, orgID); err != nil {
				return err
			}
		}
		return insertOrgEvent(tx, orgID, ev)
	})
}

// MemberRole returns userID's role in orgID, ErrNotFound for a non-member.
func (s *Store) MemberRole(ctx context.Context, orgID, userID int64) (string, error) {
	var role string
	err := s.db.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return role, err
}

// Members lists an organization's members by name.
func (s *Store) Members(ctx context.Context, orgID int64) ([]MemberRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.name, m.role, m.added_at FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY u.name`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []MemberRecord{}
	for rows.Next() {
		var m MemberRecord
		var added int64
		if err := rows.Scan(&m.UserID, &m.Name, &m.Role, &added); err != nil {
			return nil, err
		}
		m.AddedAt = fromUnix(added)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Invitation is a pending invitation to an organization.
type Invitation struct {
	OrgID     int64
	Slug      string
	UserID    int64
	Name      string
	Role      string
	InvitedAt time.Time
	InvitedBy string
}

// InviteMember invites userID with role: nothing of theirs is reachable by
// the organization until they accept (AcceptInvitation). ErrExists if they
// are a member or invited already.
func (s *Store) InviteMember(ctx context.Context, orgID, userID int64, role, by string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrExists
		}
		_, err := tx.Exec(`INSERT INTO org_invitations (org_id, user_id, role, invited_at, invited_by) VALUES (?,?,?,?,?)`, orgID, userID, role, unix(now), by)
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		return insertOrgEvent(tx, orgID, ev)
	})
}

// Invitations lists an organization's pending invitations by name.
func (s *Store) Invitations(ctx context.Context, orgID int64) ([]Invitation, error) {
	return s.invitations(ctx, `i.org_id = ?`, orgID)
}

// InvitationsOfUser lists the pending invitations of userID.
func (s *Store) InvitationsOfUser(ctx context.Context, userID int64) ([]Invitation, error) {
	return s.invitations(ctx, `i.user_id = ?`, userID)
}

func (s *Store) invitations(ctx context.Context, where string, arg int64) ([]Invitation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.org_id, o.slug, i.user_id, u.name, i.role, i.invited_at, i.invited_by
		FROM org_invitations i JOIN users u ON u.id = i.user_id JOIN orgs o ON o.id = i.org_id WHERE `+where+` ORDER BY o.slug, u.name`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		var in Invitation
		var at int64
		if err := rows.Scan(&in.OrgID, &in.Slug, &in.UserID, &in.Name, &in.Role, &at, &in.InvitedBy); err != nil {
			return nil, err
		}
		in.InvitedAt = fromUnix(at)
		out = append(out, in)
	}
	return out, rows.Err()
}

// AcceptInvitation makes the invited userID a member with the role they were
// invited with, from now on; ErrNotFound without an invitation. mkEvent
// builds the event from the role.
func (s *Store) AcceptInvitation(ctx context.Context, orgID, userID int64, now time.Time, mkEvent func(role, invitedBy string) *Event) (string, error) {
	var role string
	err := s.write(ctx, func(tx *sql.Tx) error {
		var by string
		err := tx.QueryRow(`SELECT role, invited_by FROM org_invitations WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role, &by)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM org_invitations WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO org_members (org_id, user_id, role, added_at) VALUES (?,?,?,?)`, orgID, userID, role, unix(now)); err != nil {
			return err
		}
		if err := insertOrgEvent(tx, orgID, mkEvent(role, by)); err != nil {
			return err
		}
		return markViolations(tx, orgID, now)
	})
	return role, err
}

// DropInvitation deletes userID's pending invitation (declined by them or
// withdrawn by the organization); ErrNotFound without one.
func (s *Store) DropInvitation(ctx context.Context, orgID, userID int64, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM org_invitations WHERE org_id = ? AND user_id = ?`, orgID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertOrgEvent(tx, orgID, ev)
	})
}

// AddMember adds userID with role; ErrExists if already a member.
func (s *Store) AddMember(ctx context.Context, orgID, userID int64, role string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO org_members (org_id, user_id, role, added_at) VALUES (?,?,?,?)`, orgID, userID, role, unix(now))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		if err := insertOrgEvent(tx, orgID, ev); err != nil {
			return err
		}
		return markViolations(tx, orgID, now)
	})
}

func ownerCount(tx *sql.Tx, orgID int64) (int, error) {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM org_members WHERE org_id = ? AND role = 'owner'`, orgID).Scan(&n)
	return n, err
}

// SetRole changes a member's role; ErrLastOwner when it would leave the
// organization without an owner.
func (s *Store) SetRole(ctx context.Context, orgID, userID int64, role string, ev *Event) (old string, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&old); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if old == model.RoleOwner && role != model.RoleOwner {
			if n, err := ownerCount(tx, orgID); err != nil {
				return err
			} else if n <= 1 {
				return ErrLastOwner
			}
		}
		if _, err := tx.Exec(`UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?`, role, orgID, userID); err != nil {
			return err
		}
		return insertOrgEvent(tx, orgID, ev)
	})
	return old, err
}

// Offboarding is what removing a member did.
type Offboarding struct {
	RevokedKeys    []*KeyRecord
	DeletedJWTKeys []string
	HandedPackages []string
}

// RemoveMember offboards userID in one transaction: the membership goes,
// every usable key of theirs that reaches the organization's scopes is
// revoked and every JWT key of theirs deleted (a JWT is not limited to
// namespaces, so it reaches them all), each recorded in both the member's
// and the organization's log, and their packages in the organization's
// scopes are handed to the organization. ErrLastOwner protects the last owner.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID int64, now time.Time, mkEvent func(typ string, keyID *string, detail string) *Event) (*Offboarding, error) {
	out := &Offboarding{DeletedJWTKeys: []string{}, HandedPackages: []string{}}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var role string
		if err := tx.QueryRow(`SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if role == model.RoleOwner {
			if n, err := ownerCount(tx, orgID); err != nil {
				return err
			} else if n <= 1 {
				return ErrLastOwner
			}
		}
		scopes, err := orgScopes(tx, orgID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
			return err
		}
		// keys
		rows, err := tx.Query(`SELECT `+keyCols+` FROM api_keys WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY seq`, userID, unix(now))
		if err != nil {
			return err
		}
		var keys []*KeyRecord
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if orgpolicy.Reaches(k.Namespaces, scopes) {
				keys = append(keys, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		t := now.UTC().Truncate(time.Second)
		for _, k := range keys {
			if _, err := tx.Exec(`UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE seq = ?`, unix(t), unix(t), k.Seq); err != nil {
				return err
			}
			k.RevokedAt, k.UpdatedAt = &t, t
			if err := insertOrgEvent(tx, orgID, mkEvent(model.EventTokenRevoked, &k.ID, "revoked by offboarding: the key reaches the organization's scopes")); err != nil {
				return err
			}
		}
		out.RevokedKeys = keys
		// JWT keys
		if len(scopes) > 0 {
			jrows, err := tx.Query(`SELECT id FROM jwt_keys WHERE user_id = ? ORDER BY seq`, userID)
			if err != nil {
				return err
			}
			for jrows.Next() {
				var id string
				if err := jrows.Scan(&id); err != nil {
					jrows.Close()
					return err
				}
				out.DeletedJWTKeys = append(out.DeletedJWTKeys, id)
			}
			jrows.Close()
			for _, id := range out.DeletedJWTKeys {
				if _, err := tx.Exec(`DELETE FROM jwt_keys WHERE id = ?`, id); err != nil {
					return err
				}
				if err := insertOrgEvent(tx, orgID, mkEvent(model.EventTokenRevoked, nil, "jwt key "+id+" deleted by offboarding")); err != nil {
					return err
				}
			}
		}
		// packages
		for _, sc := range scopes {
			prows, err := tx.Query(`SELECT name FROM packages WHERE user_id = ? AND org_id IS NULL AND name LIKE ? ESCAPE '\' ORDER BY name`, userID, likePrefix(sc+"/"))
			if err != nil {
				return err
			}
			for prows.Next() {
				var n string
				if err := prows.Scan(&n); err != nil {
					prows.Close()
					return err
				}
				out.HandedPackages = append(out.HandedPackages, n)
			}
			prows.Close()
		}
		for _, n := range out.HandedPackages {
			if _, err := tx.Exec(`UPDATE packages SET org_id = ? WHERE name = ?`, orgID, n); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("removed (%s); %d keys revoked, %d JWT keys deleted, %d packages handed to the organization",
			role, len(keys), len(out.DeletedJWTKeys), len(out.HandedPackages))
		if err := insertOrgEvent(tx, orgID, mkEvent(model.EventMemberRemoved, nil, detail)); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM org_key_violations WHERE org_id = ? AND key_id IN (SELECT id FROM api_keys WHERE user_id = ?)`, orgID, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

func orgScopes(q interface {
	Query(string, ...any) (*sql.Rows, error)
}, orgID int64) ([]string, error) {
	rows, err := q.Query(`SELECT scope FROM scope_owners WHERE org_id = ? ORDER BY scope`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var sc string
		if err := rows.Scan(&sc); err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

type dbQuerier struct {
	ctx context.Context
	db  *sql.DB
}

func (q dbQuerier) Query(s string, a ...any) (*sql.Rows, error) {
	return q.db.QueryContext(q.ctx, s, a...)
}

// OrgScopes lists the npm scopes an organization owns.
func (s *Store) OrgScopes(ctx context.Context, orgID int64) ([]string, error) {
	return orgScopes(dbQuerier{ctx, s.db}, orgID)
}

// ScopeOwner says who owns an npm scope: an organization (orgID > 0) or a
// user (userID > 0); ErrNotFound when nobody claimed it.
func (s *Store) ScopeOwner(ctx context.Context, scope string) (orgID, userID int64, err error) {
	var o, u sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT org_id, user_id FROM scope_owners WHERE scope = ?`, scope).Scan(&o, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, ErrNotFound
	}
	return o.Int64, u.Int64, err
}

// ClaimScope gives scope to the organization. A scope that the claiming
// user owns personally moves to the organization; ErrExists when it has
// another owner (this organization, another, or another user).
func (s *Store) ClaimScope(ctx context.Context, orgID, claimer int64, scope string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE scope_owners SET org_id = ?, user_id = NULL, claimed_at = ? WHERE scope = ? AND user_id = ?`, orgID, unix(now), scope, claimer)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err = tx.Exec(`INSERT INTO scope_owners (scope, org_id, claimed_at) VALUES (?,?,?)`, scope, orgID, unix(now))
		}
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
				return ErrExists
			}
			return err
		}
		if err := insertOrgEvent(tx, orgID, ev); err != nil {
			return err
		}
		return markViolations(tx, orgID, now)
	})
}

// ReleaseScope gives up the organization's claim on scope.
func (s *Store) ReleaseScope(ctx context.Context, orgID int64, scope string, now time.Time, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM scope_owners WHERE scope = ? AND org_id = ?`, scope, orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := insertOrgEvent(tx, orgID, ev); err != nil {
			return err
		}
		return markViolations(tx, orgID, now)
	})
}

// SetPolicy stores the organization's policy and marks the existing keys
// that break it; it returns how many keys are marked.
func (s *Store) SetPolicy(ctx context.Context, orgID int64, p orgpolicy.Policy, auditTokenUsed bool, now time.Time, ev *Event) (int, error) {
	var marked int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var life, maxKeys, scopes, cidrs any
		if p.MaxLifetime > 0 {
			life = int64(p.MaxLifetime / time.Second)
		}
		if p.MaxKeys > 0 {
			maxKeys = p.MaxKeys
		}
		if p.AllowedScopes != nil {
			scopes = joinList(p.AllowedScopes)
		}
		if p.RequiredCIDRs != nil {
			cidrs = joinList(p.RequiredCIDRs)
		}
		if _, err := tx.Exec(`UPDATE orgs SET policy_max_lifetime = ?, policy_allowed_scopes = ?, policy_required_cidrs = ?,
			policy_max_keys = ?, policy_audit_token_used = ? WHERE id = ?`, life, scopes, cidrs, maxKeys, auditTokenUsed, orgID); err != nil {
			return err
		}
		if err := insertOrgEvent(tx, orgID, ev); err != nil {
			return err
		}
		if err := markViolations(tx, orgID, now); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT count(*) FROM org_key_violations WHERE org_id = ?`, orgID).Scan(&marked)
	})
	return marked, err
}

// markViolations recomputes which usable keys of the organization's members
// that reach its scopes break its policy. Nothing is revoked: the keys are
// marked, and the marks show in key JSON and tables.
func markViolations(tx *sql.Tx, orgID int64, now time.Time) error {
	o, err := scanOrg(tx.QueryRow(`SELECT `+orgCols+` FROM orgs WHERE id = ?`, orgID))
	if err != nil {
		return err
	}
	scopes, err := orgScopes(tx, orgID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM org_key_violations WHERE org_id = ?`, orgID); err != nil {
		return err
	}
	rows, err := tx.Query(`SELECT `+keyCols+` FROM api_keys WHERE user_id IN (SELECT user_id FROM org_members WHERE org_id = ?)
		AND revoked_at IS NULL AND expires_at > ? ORDER BY user_id, seq`, orgID, unix(now))
	if err != nil {
		return err
	}
	byUser := map[int64][]*KeyRecord{}
	var users []int64
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if !orgpolicy.Reaches(k.Namespaces, scopes) {
			continue
		}
		if _, ok := byUser[k.UserID]; !ok {
			users = append(users, k.UserID)
		}
		byUser[k.UserID] = append(byUser[k.UserID], k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, uid := range users {
		keys := byUser[uid]
		counted := 0 // keys in their rotation grace do not count
		for _, k := range keys {
			if k.RotatedTo == nil {
				counted++
			}
		}
		over := orgpolicy.OverLimit(o.Policy, counted)
		seen := 0
		for _, k := range keys {
			var rules []string
			for _, v := range orgpolicy.Violations(o.Slug, o.Policy, orgpolicy.Grant{Scopes: k.Scopes, Namespaces: k.Namespaces, CIDRs: k.CIDRs,
				Lifetime: k.ExpiresAt.Sub(k.CreatedAt)}) {
				rules = append(rules, v.Rule)
			}
			if k.RotatedTo == nil {
				seen++
				if seen > counted-over { // the newest keys beyond the limit
					rules = append(rules, orgpolicy.RuleMaxKeys)
				}
			}
			if len(rules) == 0 {
				continue
			}
			if _, err := tx.Exec(`INSERT INTO org_key_violations (key_id, org_id, rules) VALUES (?,?,?)`, k.ID, orgID, joinList(rules)); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeyViolations lists the policy marks on a key as "slug:rule".
func (s *Store) KeyViolations(ctx context.Context, keyID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.slug, v.rules FROM org_key_violations v JOIN orgs o ON o.id = v.org_id WHERE v.key_id = ? ORDER BY o.slug`, keyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var slug, rules string
		if err := rows.Scan(&slug, &rules); err != nil {
			return nil, err
		}
		for _, r := range splitList(rules) {
			out = append(out, slug+":"+r)
		}
	}
	return out, rows.Err()
}

// AnyViolations reports whether any key is marked at all (a fast path for
// rendering many keys).
func (s *Store) AnyViolations(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM org_key_violations LIMIT 1)`).Scan(&n)
	return n > 0, err
}

// PolicyScope is one organization's policy as it bears on a member's key.
type PolicyScope struct {
	Org    *Org
	Scopes []string
	// ActiveKeys counts the member's usable keys that reach the
	// organization, except the one excluded (a rotation's old key).
	ActiveKeys int
}

// PoliciesFor returns the policies of every organization userID belongs to
// that a key limited to namespaces would reach, with the member's count of
// usable keys reaching each (excluding excludeKeyID and keys in their
// rotation grace).
func (s *Store) PoliciesFor(ctx context.Context, userID int64, namespaces []string, excludeKeyID string, now time.Time) ([]PolicyScope, error) {
	orgs, err := s.OrgsOfUser(ctx, userID)
	if err != nil || len(orgs) == 0 {
		return nil, err
	}
	keys, err := s.ListKeys(ctx, userID, false, 0, 10000, now)
	if err != nil {
		return nil, err
	}
	var out []PolicyScope
	for _, m := range orgs {
		scopes, err := s.OrgScopes(ctx, m.Org.ID)
		if err != nil {
			return nil, err
		}
		if !orgpolicy.Reaches(namespaces, scopes) {
			continue
		}
		n := 0
		for _, k := range keys {
			// a key in its rotation grace does not count: it is on its way out
			if k.ID != excludeKeyID && k.RotatedTo == nil && orgpolicy.Reaches(k.Namespaces, scopes) {
				n++
			}
		}
		out = append(out, PolicyScope{Org: m.Org, Scopes: scopes, ActiveKeys: n})
	}
	return out, nil
}

// OrgKeysPage returns up to limit keys of the organization's current
// members (revoked and expired included) changed since, by seq after
// afterSeq. Whether each reaches the organization's scopes is the caller's
// to decide: the page is read whole and its connection handed back first.
func (s *Store) OrgKeysPage(ctx context.Context, orgID int64, since time.Time, afterSeq int64, limit int) ([]*KeyRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE user_id IN (SELECT user_id FROM org_members WHERE org_id = ?)
		AND updated_at >= ? AND seq > ? ORDER BY seq LIMIT ?`, orgID, unix(since), afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*KeyRecord, 0, limit)
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// OrgEventFilter selects an organization's events.
type OrgEventFilter struct {
	OrgID    int64
	Since    time.Time
	Types    []string
	KeyID    string
	AfterSeq int64
	// Include decides about a member's own event (key events of keys that
	// reach the organization); events recorded for the organization itself
	// are always included. It runs while the query's connection is held:
	// one that reads the database itself belongs after a page is read (see
	// OrgEvent and Limit).
	Include func(e *Event) bool
	// Limit, when above 0, ends the read after so many events.
	Limit int
}

// ForEachOrgEvent streams the organization's log in order: the events
// recorded for it, and its current members' events that Include accepts,
// each member's from when they joined (accepted their invitation) only.
func (s *Store) ForEachOrgEvent(ctx context.Context, f OrgEventFilter, fn func(*Event) error) error {
	q := `SELECT seq, user_id, org_id, type, time, actor, key_id, ip, detail FROM audit_events
		WHERE seq > ? AND time >= ? AND (org_id = ? OR (org_id IS NULL AND EXISTS (SELECT 1 FROM org_members m
			WHERE m.org_id = ? AND m.user_id = audit_events.user_id AND audit_events.time >= m.added_at)))`
	args := []any{f.AfterSeq, unix(f.Since), f.OrgID, f.OrgID}
	if len(f.Types) > 0 {
		q += ` AND type IN (?` + strings.Repeat(",?", len(f.Types)-1) + `)`
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.KeyID != "" {
		q += ` AND key_id = ?`
		args = append(args, f.KeyID)
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var uid, oid sql.NullInt64
		var t int64
		var key, ip sql.NullString
		if err := rows.Scan(&e.Seq, &uid, &oid, &e.Type, &t, &e.Actor, &key, &ip, &e.Detail); err != nil {
			return err
		}
		if uid.Valid {
			e.UserID = &uid.Int64
		}
		e.Time, e.KeyID, e.IP = fromUnix(t), nullString(key), nullString(ip)
		e.OrgEvent = oid.Valid
		if !oid.Valid && f.Include != nil && !f.Include(&e) {
			continue
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// KeyNamespaces returns a key's namespaces (any user), for event filtering.
func (s *Store) KeyNamespaces(ctx context.Context, keyID string) ([]string, error) {
	var ns string
	err := s.db.QueryRowContext(ctx, `SELECT namespaces FROM api_keys WHERE id = ?`, keyID).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return splitList(ns), err
}

// AddOrgEvent records an event in the organization's log only.
func (s *Store) AddOrgEvent(ctx context.Context, orgID int64, ev *Event) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertOrgEvent(tx, orgID, ev) })
}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return slices.Contains(model.Roles, r) }
