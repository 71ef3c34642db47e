-- Beat's storage history (src/backends/postgres/postgres-schedule-store.ts), as on SQLite: one
-- row per slot (floor(at / slotMs)), whose primary key lets two beats sampling at once store one
-- sample (INSERT ... ON CONFLICT DO NOTHING); sample is the census sample's JSON. Indexed on at,
-- which reads (oldest first, since an instant) and trims (older than the keep window) use.
CREATE TABLE ebb_history (
  slot bigint PRIMARY KEY,
  at bigint NOT NULL,
  sample text NOT NULL
);
CREATE INDEX ebb_history_at ON ebb_history (at);
