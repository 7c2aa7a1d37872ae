-- 0001_init: users, sessions and avatars (durable); codes, tickets and
-- flows (short-lived, swept when expired). Every statement is idempotent so
-- that a half-known database never breaks a start; the runner applies this
-- file once, in the transaction that records it in schema_migrations.

CREATE TABLE IF NOT EXISTS users (
	id            text        NOT NULL,
	phone         text        NOT NULL,
	password_hash text        NOT NULL,
	name          text        NOT NULL DEFAULT '',
	nickname      text        NOT NULL DEFAULT '',
	gender        text        NOT NULL DEFAULT '',
	avatar        text        NOT NULL DEFAULT '',
	device_id     text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	-- AlreadyRegistered is detected from this constraint's violation.
	CONSTRAINT users_phone_key UNIQUE (phone)
);

CREATE TABLE IF NOT EXISTS sessions (
	token_hash bytea       NOT NULL,
	user_id    text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	CONSTRAINT sessions_pkey PRIMARY KEY (token_hash),
	CONSTRAINT sessions_token_hash_len CHECK (octet_length(token_hash) = 32),
	CONSTRAINT sessions_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS avatars (
	name         text        NOT NULL,
	content_type text        NOT NULL,
	data         bytea       NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT avatars_pkey PRIMARY KEY (name)
);

-- One pending code per phone: PutCode replaces it.
CREATE TABLE IF NOT EXISTS codes (
	phone      text        NOT NULL,
	purpose    smallint    NOT NULL,
	mac        bytea       NOT NULL,
	expires_at timestamptz NOT NULL,
	attempts   integer     NOT NULL DEFAULT 0,
	burned     boolean     NOT NULL DEFAULT false,
	CONSTRAINT codes_pkey PRIMARY KEY (phone),
	CONSTRAINT codes_mac_len CHECK (octet_length(mac) = 32)
);
CREATE INDEX IF NOT EXISTS codes_expires_at_idx ON codes (expires_at);

-- One ticket per phone and purpose: PutTicket replaces it.
CREATE TABLE IF NOT EXISTS tickets (
	phone      text        NOT NULL,
	purpose    smallint    NOT NULL,
	hash       bytea       NOT NULL,
	expires_at timestamptz NOT NULL,
	CONSTRAINT tickets_pkey PRIMARY KEY (phone, purpose),
	CONSTRAINT tickets_hash_len CHECK (octet_length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS tickets_expires_at_idx ON tickets (expires_at);

CREATE TABLE IF NOT EXISTS flows (
	id         text        NOT NULL,
	phone      text        NOT NULL,
	ticket     text        NOT NULL DEFAULT '',
	expires_at timestamptz NOT NULL,
	CONSTRAINT flows_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS flows_expires_at_idx ON flows (expires_at);
