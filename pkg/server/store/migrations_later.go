package store

// laterMigrations are the schema steps added after the first one
// (OAuth, JWT keys); each is applied once, in order.
var laterMigrations = []string{
	// 2: OAuth — tokens (hashed), authorization codes, device codes
	`CREATE TABLE oauth_tokens (
		id TEXT PRIMARY KEY,
		family_id TEXT NOT NULL,
		user_id INTEGER NOT NULL REFERENCES users(id),
		kind TEXT NOT NULL,             -- access | refresh
		token_hash BLOB NOT NULL UNIQUE,
		scopes TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at INTEGER,                -- refresh tokens: when exchanged (rotation)
		revoked_at INTEGER
	);
	CREATE INDEX oauth_tokens_family ON oauth_tokens(family_id);
	CREATE TABLE oauth_codes (
		code_hash BLOB PRIMARY KEY,
		user_id INTEGER NOT NULL REFERENCES users(id),
		client_id TEXT NOT NULL,
		redirect_uri TEXT NOT NULL,
		challenge TEXT NOT NULL,
		scopes TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at INTEGER,
		family_id TEXT NOT NULL
	);
	CREATE TABLE device_codes (
		device_hash BLOB PRIMARY KEY,
		user_code TEXT NOT NULL UNIQUE,
		client_id TEXT NOT NULL,
		scopes TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		interval INTEGER NOT NULL,
		last_poll_ms INTEGER NOT NULL DEFAULT 0,
		status TEXT NOT NULL DEFAULT 'pending', -- pending | approved | denied | consumed
		user_id INTEGER
	);`,
	// 3: registered RSA public keys for JWT bearer tokens
	`CREATE TABLE jwt_keys (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		user_id INTEGER NOT NULL REFERENCES users(id),
		name TEXT NOT NULL,
		public_pem TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		bits INTEGER NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX jwt_keys_user ON jwt_keys(user_id, seq);`,
	// 4: organizations — members with roles, policies, npm scopes they own
	// (scope_owners: one owner per scope, an organization or a user), the
	// policy marks on existing keys, and the organization an event or a
	// handed-over package belongs to
	`CREATE TABLE orgs (
		id INTEGER PRIMARY KEY,
		slug TEXT NOT NULL UNIQUE,
		name TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		policy_max_lifetime INTEGER,        -- seconds; NULL: unset
		policy_allowed_scopes TEXT,         -- space-separated; NULL: unset, '': none allowed
		policy_required_cidrs TEXT,         -- space-separated; NULL: unset
		policy_max_keys INTEGER,            -- NULL: unset
		policy_audit_token_used INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE org_members (
		org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		user_id INTEGER NOT NULL REFERENCES users(id),
		role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'auditor')),
		added_at INTEGER NOT NULL,
		PRIMARY KEY (org_id, user_id)
	);
	CREATE INDEX org_members_user ON org_members(user_id);
	CREATE TABLE scope_owners (
		scope TEXT PRIMARY KEY,             -- '@acme-corp'
		org_id INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
		user_id INTEGER REFERENCES users(id),
		claimed_at INTEGER NOT NULL,
		CHECK ((org_id IS NULL) <> (user_id IS NULL))
	);
	CREATE INDEX scope_owners_org ON scope_owners(org_id);
	CREATE TABLE org_key_violations (
		key_id TEXT NOT NULL,
		org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		rules TEXT NOT NULL,                -- space-separated rule names
		PRIMARY KEY (key_id, org_id)
	);
	ALTER TABLE audit_events ADD COLUMN org_id INTEGER;
	CREATE INDEX audit_events_org ON audit_events(org_id, seq);
	ALTER TABLE packages ADD COLUMN org_id INTEGER;`,
	// 5: key list index (issue 16): a user's usable keys (unrevoked, found
	// by expiry) without walking their revoked and expired ones
	`CREATE INDEX api_keys_usable ON api_keys(user_id, expires_at) WHERE revoked_at IS NULL;`,
}
