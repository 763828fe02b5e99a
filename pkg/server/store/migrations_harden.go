package store

// hardenMigrations are the schema steps of the ceiling hardening. They run
// after leastPrivMigrations, in order.
var hardenMigrations = []string{
	// organization invitations: adding a user to an organization invites
	// them; nothing of theirs is reachable by it until they accept
	`CREATE TABLE org_invitations (
		org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		user_id INTEGER NOT NULL REFERENCES users(id),
		role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'auditor')),
		invited_at INTEGER NOT NULL,
		invited_by TEXT NOT NULL,
		PRIMARY KEY (org_id, user_id)
	);
	CREATE INDEX org_invitations_user ON org_invitations(user_id);`,
}
