package store

// leastPrivMigrations record ceilings and owners (issue "least privilege
// everywhere"). They run after laterMigrations, in order.
var leastPrivMigrations = []string{
	// the ceiling of the credential that registered a JWT key: every JWT the
	// key signs is cut down to it. Keys registered before it was recorded
	// get an empty ceiling (no scopes, expired): register them again.
	`ALTER TABLE jwt_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
	ALTER TABLE jwt_keys ADD COLUMN namespaces TEXT NOT NULL DEFAULT '';
	ALTER TABLE jwt_keys ADD COLUMN cidrs TEXT NOT NULL DEFAULT '';
	ALTER TABLE jwt_keys ADD COLUMN environment TEXT NOT NULL DEFAULT 'sandbox';
	ALTER TABLE jwt_keys ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
	-- the credential that registered it: revoking that key ends the JWT key
	ALTER TABLE jwt_keys ADD COLUMN registered_by TEXT NOT NULL DEFAULT '';
	-- a stored rotation answer belongs to the credential that asked first
	ALTER TABLE idempotency ADD COLUMN credential TEXT NOT NULL DEFAULT '';
	CREATE INDEX idempotency_created ON idempotency(created_at);
	-- npm scopes (@acme-corp) belong to whoever claimed them: a user here,
	-- or an organization (scope_owners, one owner per scope)
	INSERT OR IGNORE INTO scope_owners (scope, user_id, claimed_at)
		SELECT substr(name, 1, instr(name, '/') - 1), user_id, updated_at FROM packages ORDER BY updated_at;
	CREATE INDEX oauth_tokens_expires ON oauth_tokens(expires_at);
	CREATE INDEX oauth_codes_expires ON oauth_codes(expires_at);
	CREATE INDEX device_codes_expires ON device_codes(expires_at);`,
}
