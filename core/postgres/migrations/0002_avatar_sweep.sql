-- 0002_avatar_sweep: uploads no user references are deleted after a grace
-- period (core.Store.DeleteUnusedAvatars).
--
-- touched_at starts the grace period: the upload, or the last TouchAvatar
-- (a registration about to reference it). Rows already stored get the
-- migration's time, so an upgrade deletes nothing at once.
ALTER TABLE avatars ADD COLUMN IF NOT EXISTS touched_at timestamptz NOT NULL DEFAULT now();
-- in_use is set once a sweep finds a user referencing the image: users
-- are never deleted and their avatar never changes, so later sweeps skip
-- it, and each pass only looks at uploads not yet found in use.
ALTER TABLE avatars ADD COLUMN IF NOT EXISTS in_use boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS avatars_unused_idx ON avatars (touched_at) WHERE NOT in_use;
-- The name a profile's avatar reference ends in ("/v1/avatars/<name>"),
-- looked up by the sweep for each candidate.
CREATE INDEX IF NOT EXISTS users_avatar_name_idx ON users ((substring(avatar from '/([^/]*)$'))) WHERE avatar <> '';
