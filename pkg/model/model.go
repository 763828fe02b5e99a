// Package model holds the JSON shapes of the CodeSync API, shared by the
// client and the reference server so both agree on every field and its order.
package model

import "time"

// Key is the key object of the API (docs/api.md), fields in the documented order.
type Key struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Environment string     `json:"environment"`
	Scopes      []string   `json:"scopes"`
	CIDRs       []string   `json:"cidrs"`
	Namespaces  []string   `json:"namespaces"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	LastUsedIP  *string    `json:"last_used_ip"`
	RevokedAt   *time.Time `json:"revoked_at"`
	RotatedFrom *string    `json:"rotated_from"`
	RotatedTo   *string    `json:"rotated_to"`
	// Owner is the user the key belongs to; PolicyViolations names the
	// organization policies an existing key breaks ("acme-corp:max-lifetime"),
	// [] when none.
	Owner            string   `json:"owner"`
	PolicyViolations []string `json:"policy_violations"`
}

// KeyWithToken is a key as returned at creation or rotation: the only time
// the token is ever shown.
type KeyWithToken struct {
	Key
	Token string `json:"token"`
}

// Key statuses.
const (
	StatusActive   = "active"
	StatusExpiring = "expiring"
	StatusExpired  = "expired"
	StatusRevoked  = "revoked"
)

// Environments.
const (
	EnvProduction = "production"
	EnvSandbox    = "sandbox"
)

// KeyList is GET /v1/keys.
type KeyList struct {
	Keys       []Key   `json:"keys"`
	NextCursor *string `json:"next_cursor"`
}

// CreateKeyRequest is POST /v1/keys.
type CreateKeyRequest struct {
	Name        string   `json:"name"`
	Scopes      []string `json:"scopes"`
	ExpiresIn   int64    `json:"expires_in,omitempty"`
	CIDRs       []string `json:"cidrs,omitempty"`
	Namespaces  []string `json:"namespaces,omitempty"`
	Environment string   `json:"environment,omitempty"`
}

// RotateKeyRequest is POST /v1/keys/{id}/rotate. GraceSeconds nil means the
// default grace (24h).
type RotateKeyRequest struct {
	GraceSeconds *int64 `json:"grace_seconds,omitempty"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
}

// RotateKeyResponse is what rotate returns.
type RotateKeyResponse struct {
	Old Key          `json:"old"`
	New KeyWithToken `json:"new"`
}

// Event is an audit event.
type Event struct {
	ID     string    `json:"id"`
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	KeyID  *string   `json:"key_id"`
	IP     *string   `json:"ip"`
	Detail string    `json:"detail"`
}

// EventList is GET /v1/audit/events.
type EventList struct {
	Events     []Event `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

// Event types.
const (
	EventTokenCreated   = "token:created"
	EventTokenUsed      = "token:used"
	EventTokenRotated   = "token:rotated"
	EventTokenRevoked   = "token:revoked"
	EventScopeEscalated = "scope:escalated"
	EventLoginSucceeded = "login:succeeded"
	EventLoginFailed    = "login:failed"
	// organizations
	EventOrgCreated        = "org:created"
	EventOrgDeleted        = "org:deleted"
	EventMemberAdded       = "member:added"
	EventMemberInvited     = "member:invited"
	EventMemberRemoved     = "member:removed"
	EventRoleChanged       = "role:changed"
	EventPolicyChanged     = "policy:changed"
	EventNamespaceClaimed  = "namespace:claimed"
	EventNamespaceReleased = "namespace:released"
)

// EventTypes lists every event type.
var EventTypes = []string{EventTokenCreated, EventTokenUsed, EventTokenRotated, EventTokenRevoked, EventScopeEscalated, EventLoginSucceeded, EventLoginFailed, EventTokenLeaked,
	EventOrgCreated, EventOrgDeleted, EventMemberInvited, EventMemberAdded, EventMemberRemoved, EventRoleChanged, EventPolicyChanged, EventNamespaceClaimed, EventNamespaceReleased,
	EventLoginFederated, EventIdentityLinked, EventMembershipSynced,
	EventOIDCExchanged, EventOIDCRefused, EventPublisherAdded, EventPublisherRemoved}

// Health is GET /v1/auth/health.
type Health struct {
	Status               string    `json:"status"`
	FailedLoginsLastHour int       `json:"failed_logins_last_hour"`
	FailedLoginThreshold int       `json:"failed_login_threshold"`
	Time                 time.Time `json:"time"`
	// secret-scanning reports refused in the last hour (bad signature,
	// unknown key identifier)
	SecretScanningRefused int `json:"secret_scanning_refused_last_hour"`
}

// WhoAmI is GET /v1/auth/whoami.
type WhoAmI struct {
	User       WhoAmIUser       `json:"user"`
	Credential WhoAmICredential `json:"credential"`
}

type WhoAmIUser struct {
	Name string `json:"name"`
}

type WhoAmICredential struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	Scopes      []string   `json:"scopes"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Environment string     `json:"environment"`
	// Provider is the identity provider an OAuth session came from
	// (federated sign-in); absent otherwise.
	Provider string `json:"provider,omitempty"`
}

// ExportSummary counts keys by status in an audit export.
type ExportSummary struct {
	Active   int `json:"active"`
	Expiring int `json:"expiring"`
	Expired  int `json:"expired"`
	Revoked  int `json:"revoked"`
}

// Error is the server's error body.
type Error struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// CSVHeader is the header row of the csv export, one column per key field.
var CSVHeader = []string{"id", "name", "prefix", "environment", "scopes", "cidrs", "namespaces", "status", "created_at", "expires_at", "last_used_at", "last_used_ip", "revoked_at", "rotated_from", "rotated_to", "owner", "policy_violations"}

// Credential types, as whoami and `auth status` name them.
const (
	CredentialAPIKey = "api_key"
	CredentialOAuth  = "oauth"
	CredentialJWT    = "jwt"
)

// JWTKey is a registered RSA public key for JWT bearer tokens.
type JWTKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Bits        int       `json:"bits"`
	CreatedAt   time.Time `json:"created_at"`
}

// RegisterJWTKeyRequest is POST /v1/jwt/keys.
type RegisterJWTKeyRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// JWTKeyList is GET /v1/jwt/keys.
type JWTKeyList struct {
	Keys []JWTKey `json:"keys"`
}
