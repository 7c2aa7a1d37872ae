-- 0004_admin_audit: what operators see of an account (how it came to be,
-- its last login) and the audit trail (core.AuditStore).
--
-- source is '' for accounts stored before it was recorded; last_login_at
-- is 0001-01-01 UTC (Go's zero time) when no login was recorded.
ALTER TABLE users ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00';
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login_address text NOT NULL DEFAULT '';

-- One row per security event. phone_key is a keyed hash of the phone
-- (never the phone itself), by which a phone's events are found, also
-- after its account is deleted; rows older than the retention are
-- deleted by the gateway.
CREATE TABLE IF NOT EXISTS audit_events (
	id        bigserial   NOT NULL,
	at        timestamptz NOT NULL,
	phone_key text        NOT NULL,
	event     jsonb       NOT NULL,
	CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS audit_events_phone_key_at_idx ON audit_events (phone_key, at);
CREATE INDEX IF NOT EXISTS audit_events_at_idx ON audit_events (at);

-- An account's deletion drops the flows of its phone.
CREATE INDEX IF NOT EXISTS flows_phone_idx ON flows (phone);
-- "users are never deleted" (0002) no longer holds: a deleted account's
-- avatar is deleted with it (DeleteAvatar), so in_use stays a hint only
-- for the sweep, which never deletes an image a user references.
