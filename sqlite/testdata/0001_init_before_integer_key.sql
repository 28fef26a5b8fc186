-- Times are INTEGER unix microseconds, UTC. Blobs hold bytes exactly as
-- given; text columns hold what the domain types hold.

CREATE TABLE customers (
	id                  TEXT PRIMARY KEY,
	name                TEXT NOT NULL,
	email               TEXT NOT NULL,
	plan                TEXT NOT NULL,
	licenses_per_month  INTEGER, -- NULL: the plan's limit; 0: unlimited
	requests_per_minute INTEGER, -- NULL: the plan's limit
	created_at          INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	hash        BLOB NOT NULL UNIQUE, -- looked up on every request
	hint        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER
);
CREATE INDEX api_keys_customer ON api_keys (customer_id, created_at);

-- AUTOINCREMENT is only allowed on the INTEGER PRIMARY KEY, so seq is the
-- primary key (it gives listings a stable newest-first order that never
-- reuses a value) and the license key is UNIQUE NOT NULL: globally unique
-- all the same.
CREATE TABLE licenses (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	key               TEXT NOT NULL UNIQUE,
	customer_id       TEXT NOT NULL REFERENCES customers (id),
	end_customer_id   TEXT NOT NULL,
	features          TEXT NOT NULL, -- JSON array of strings
	metadata          BLOB,          -- JSON object, byte-exact; NULL when none
	generated_at      INTEGER NOT NULL,
	valid_until       INTEGER NOT NULL,
	signature         TEXT NOT NULL,
	quantum_verified  INTEGER NOT NULL,
	fidelity          REAL,
	security_level    TEXT NOT NULL,
	entropy_source    TEXT NOT NULL,
	revoked_at        INTEGER,
	revocation_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX licenses_customer ON licenses (customer_id, seq);
CREATE INDEX licenses_end_customer ON licenses (customer_id, end_customer_id, seq);

-- One counter per customer and calendar month: the monthly quota is checked
-- and bumped here in the same transaction that inserts the license.
CREATE TABLE license_usage (
	customer_id TEXT NOT NULL REFERENCES customers (id),
	period      TEXT NOT NULL, -- "YYYY-MM"
	count       INTEGER NOT NULL,
	PRIMARY KEY (customer_id, period)
) WITHOUT ROWID;

CREATE TABLE keys (
	id          TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	algorithm   TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	exportable  INTEGER NOT NULL,
	label       TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX keys_customer ON keys (customer_id, created_at);

CREATE TABLE key_versions (
	key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	version    INTEGER NOT NULL,
	sealed     BLOB,
	public_key BLOB,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (key_id, version)
) WITHOUT ROWID;

CREATE TABLE nonces (
	customer_id TEXT NOT NULL REFERENCES customers (id),
	nonce       BLOB NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (customer_id, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);

CREATE TABLE exchange_sessions (
	id              TEXT PRIMARY KEY,
	customer_id     TEXT NOT NULL REFERENCES customers (id),
	algorithm       TEXT NOT NULL,
	key_bits        INTEGER NOT NULL,
	public_key      BLOB NOT NULL UNIQUE, -- a peer answers against it
	sealed          BLOB,
	peer_public_key BLOB,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL
);
CREATE INDEX exchange_sessions_peer ON exchange_sessions (customer_id, peer_public_key);
CREATE INDEX exchange_sessions_expiry ON exchange_sessions (expires_at);

-- Facts about the database itself, such as the master key it is bound to.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
