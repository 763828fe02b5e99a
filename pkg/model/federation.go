package model

// Federated sign-in events.
const (
	// EventLoginFederated: a person signed in through an upstream identity provider.
	EventLoginFederated = "login:federated"
	// EventIdentityLinked: an upstream identity was linked to (or unlinked from) a user.
	EventIdentityLinked = "identity:linked"
	// EventMembershipSynced: a mapping rule added, changed or removed an organization membership.
	EventMembershipSynced = "membership:synced"
)
