package model

// Trusted publishing: CI identities exchanged for short-lived tokens.
const (
	// CredentialOIDC is the credential type of a token exchanged for a CI
	// job's ID token (whoami, auth status).
	CredentialOIDC = "oidc"

	EventOIDCExchanged    = "oidc:exchanged"    // a CI identity was exchanged for a token
	EventOIDCRefused      = "oidc:refused"      // an exchange was refused, with the reason
	EventPublisherAdded   = "publisher:added"   // a trusted publisher was registered
	EventPublisherRemoved = "publisher:removed" // a trusted publisher was removed
)

// TrustedPublisherRequest is POST /v1/trusted-publishers.
type TrustedPublisherRequest struct {
	Namespaces   []string          `json:"namespaces"`
	Provider     string            `json:"provider"`
	Issuer       string            `json:"issuer,omitempty"`
	Repository   string            `json:"repository,omitempty"`
	RepositoryID string            `json:"repository_id,omitempty"`
	Workflow     string            `json:"workflow,omitempty"`
	Environment  string            `json:"environment,omitempty"`
	Ref          string            `json:"ref,omitempty"`
	Claims       map[string]string `json:"claims,omitempty"`
}
