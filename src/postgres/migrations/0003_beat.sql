-- Beat's shared state (src/backends/postgres/postgres-schedule-store.ts), as on SQLite:
-- ebb_beat_entries: one row per schedule entry; schedule is the fingerprint its ticks were
--   counted with; last_tick the newest tick fired or passed over; next_tick NULL when the
--   schedule has no more; fired, missed and catch_ups count since the entry was first seen.
-- ebb_beat_fires: one row per fired tick. Its (entry, tick) primary key is what stops two beats
--   firing one tick: a claim whose INSERT ... ON CONFLICT DO NOTHING meets a taken tick rolls back
--   whole. message is the outbox (JSON) until sent_at is set, then NULL. The partial index holds
--   only unsent fires, so the resend sweep reads a handful of rows however long the history.
-- ebb_cleanup_runs: the record of each cleanup run (JSON), newest by id, trimmed to a fixed count.
CREATE TABLE ebb_beat_entries (
  entry text PRIMARY KEY,
  schedule text NOT NULL,
  last_tick bigint NOT NULL,
  next_tick bigint,
  fired bigint NOT NULL DEFAULT 0,
  missed bigint NOT NULL DEFAULT 0,
  catch_ups bigint NOT NULL DEFAULT 0,
  updated_at bigint NOT NULL
);

CREATE TABLE ebb_beat_fires (
  entry text NOT NULL,
  tick bigint NOT NULL,
  task_id text NOT NULL,
  catch_up boolean NOT NULL,
  claimed_at bigint NOT NULL,
  sent_at bigint,
  message text,
  PRIMARY KEY (entry, tick)
);
CREATE INDEX ebb_beat_fires_unsent ON ebb_beat_fires (claimed_at, tick, entry) WHERE sent_at IS NULL;

CREATE TABLE ebb_cleanup_runs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at bigint NOT NULL,
  record text NOT NULL
);

-- Chord counting (src/backends/postgres/postgres-chords.ts): one row per chord header with its
-- size, one per finished part; a part counts once however often its message is redelivered.
CREATE TABLE ebb_chords (
  group_id text PRIMARY KEY,
  size integer,
  expires_at bigint
);
CREATE INDEX ebb_chords_expires_at ON ebb_chords (expires_at);
CREATE TABLE ebb_chord_parts (
  group_id text NOT NULL,
  task_id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  state text NOT NULL,
  result text NOT NULL,
  group_index integer,
  PRIMARY KEY (group_id, task_id)
);
