import type Database from "better-sqlite3";

/**
 * Ebb's SQLite schema, as an append-only list. Never edit or reorder a shipped migration:
 * databases in the field have recorded its id. Add a new one at the end instead.
 * All instants are INTEGER epoch milliseconds, UTC.
 */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}

/**
 * Broker messages. A row is visible to fetch when available_at <= now and its lease is absent
 * or over (lease_until <= now). fetch() sets lease_until, a fresh lease_token and bumps
 * delivered_count; ack/extend/release/deadLetter act only while lease_token still matches.
 * body is the message exactly as published. AUTOINCREMENT so an id is never reused.
 * The index serves fetch: queue = ? ORDER BY priority, available_at, id.
 */
const MESSAGES_SQL = `
CREATE TABLE ebb_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL,
  body TEXT NOT NULL,
  available_at INTEGER NOT NULL,
  lease_until INTEGER NULL,
  lease_token TEXT NULL,
  delivered_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX ebb_messages_fetch ON ebb_messages (queue, priority, available_at, id);
`;

/** Messages moved aside by deadLetter(), body byte for byte, newest read first by id. */
const DEAD_LETTERS_SQL = `
CREATE TABLE ebb_dead_letters (
  id INTEGER PRIMARY KEY,
  queue TEXT,
  body TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

/**
 * Stored results, one row per task id. result, children, args and kwargs hold JSON text.
 * date_done is NULL for states that are not done; expires_at NULL means never. A row in
 * SUCCESS/FAILURE/REVOKED is final (store() keeps it). held = 1 is a legal hold: never
 * expired or cleaned. expires_at is indexed from day one so cleanup never scans the table.
 */
const RESULTS_SQL = `
CREATE TABLE ebb_results (
  task_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  result TEXT,
  traceback TEXT,
  children TEXT,
  date_done INTEGER NULL,
  expires_at INTEGER NULL,
  tier TEXT NULL,
  action TEXT NOT NULL DEFAULT 'delete',
  held INTEGER NOT NULL DEFAULT 0,
  name TEXT,
  args TEXT,
  kwargs TEXT,
  worker TEXT,
  retries INTEGER,
  queue TEXT
);
CREATE INDEX ebb_results_expires_at ON ebb_results (expires_at);
`;

/**
 * Ids whose results were cleaned after they expired, with the instant they expired, so a
 * lookup within the grace window reports EXPIRED rather than unknown. Indexed on expired_at
 * so old tombstones can be dropped in batches.
 */
const TOMBSTONES_SQL = `
CREATE TABLE ebb_tombstones (
  task_id TEXT PRIMARY KEY,
  expired_at INTEGER NOT NULL
);
CREATE INDEX ebb_tombstones_expired_at ON ebb_tombstones (expired_at);
`;

/**
 * Retention: archived = 1 once a result is in a complete, verified archive (an archive-tier
 * result may be cleaned only then). Scans page by keyset over (column, task_id), so the
 * expiry and date_done indexes carry task_id: a batch of expired results is read from the
 * index alone, however large the table. The (expires_at, task_id) index covers every use of
 * the old (expires_at) one, which is dropped so writes do not pay for both.
 */
const RETENTION_SQL = `
ALTER TABLE ebb_results ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ebb_results_expiry_scan ON ebb_results (expires_at, task_id);
CREATE INDEX ebb_results_done_scan ON ebb_results (date_done, task_id);
DROP INDEX ebb_results_expires_at;
`;

/**
 * Beat's shared state (src/beat/schedule-store.ts), so any number of beat processes on one file
 * agree on what fired. ebb_beat_entries: one row per schedule entry; schedule is the fingerprint
 * the ticks were counted with; last_tick the newest tick fired or passed over; next_tick NULL when
 * the schedule has no more; fired, missed and catch_ups count since the entry was first seen.
 * ebb_beat_fires: one row per fired tick. The (entry, tick) primary key is what stops two beats
 * firing one tick: a claim inserting a taken tick fails as a whole. message is the outbox (JSON
 * of the message to send) until sent_at is set, then NULL; catch_up is 0/1. Rows beyond an
 * entry's history limit are deleted oldest tick first. The partial index holds only unsent fires,
 * so the resend sweep (unsent by claimed_at) reads a handful of rows however long the history.
 * ebb_cleanup_runs: the record of each cleanup run (JSON), newest by id, trimmed to a fixed count.
 */
const BEAT_SQL = `
CREATE TABLE ebb_beat_entries (
  entry TEXT PRIMARY KEY,
  schedule TEXT NOT NULL,
  last_tick INTEGER NOT NULL,
  next_tick INTEGER NULL,
  fired INTEGER NOT NULL DEFAULT 0,
  missed INTEGER NOT NULL DEFAULT 0,
  catch_ups INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE ebb_beat_fires (
  entry TEXT NOT NULL,
  tick INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  catch_up INTEGER NOT NULL,
  claimed_at INTEGER NOT NULL,
  sent_at INTEGER NULL,
  message TEXT NULL,
  PRIMARY KEY (entry, tick)
);
CREATE INDEX ebb_beat_fires_unsent ON ebb_beat_fires (claimed_at, tick, entry) WHERE sent_at IS NULL;
CREATE TABLE ebb_cleanup_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at INTEGER NOT NULL,
  record TEXT NOT NULL
);
`;

/**
 * Keys of the broker's publishOnce(): a key lives until expires_at, and while it lives no other
 * message is published under it. A lapsed key may be taken again (its row replaced); lapsed rows
 * are also deleted a bounded batch at a time by publishOnce(), through the expires_at index.
 */
const PUBLISH_KEYS_SQL = `
CREATE TABLE ebb_publish_keys (
  key TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX ebb_publish_keys_expires_at ON ebb_publish_keys (expires_at);
`;

/**
 * A tombstone left by archive --delete says where the result went: the archive file and when it
 * was written, so the id reads EXPIRED with that location (and get() names the file). NULL for
 * tombstones cleanup leaves.
 */
const TOMBSTONE_ARCHIVE_SQL = `
ALTER TABLE ebb_tombstones ADD COLUMN archive_file TEXT NULL;
ALTER TABLE ebb_tombstones ADD COLUMN archived_at INTEGER NULL;
`;

/**
 * Chord counting (src/backends/sqlite/sqlite-chords.ts): one row per chord header with its size,
 * one per finished part (a redelivered part is the same row). expires_at (epoch ms, NULL = never)
 * lets abandoned counts be dropped; rows of a completed chord are deleted at once.
 */
const CHORDS_SQL = `
CREATE TABLE ebb_chords (
  group_id TEXT PRIMARY KEY,
  size INTEGER NULL,
  expires_at INTEGER NULL
);
CREATE INDEX ebb_chords_expires_at ON ebb_chords (expires_at);
CREATE TABLE ebb_chord_parts (
  group_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT NOT NULL,
  group_index INTEGER NULL,
  PRIMARY KEY (group_id, task_id)
);
`;

/**
 * Remote control on SQLite (brokers/sqlite/sqlite-control.ts): requests are rows every worker
 * reads past its own cursor (AUTOINCREMENT, so an id is never reused after pruning); replies
 * are rows under the sender's ticket.
 */
const CONTROL_SQL = `
CREATE TABLE ebb_control_requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  method TEXT NOT NULL,
  body TEXT NOT NULL,
  sent_at INTEGER NOT NULL
);
CREATE INDEX ebb_control_requests_sent_at ON ebb_control_requests (sent_at);
CREATE TABLE ebb_control_replies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket TEXT NOT NULL,
  body TEXT NOT NULL,
  sent_at INTEGER NOT NULL
);
CREATE INDEX ebb_control_replies_ticket ON ebb_control_replies (ticket, id);
CREATE INDEX ebb_control_replies_sent_at ON ebb_control_replies (sent_at);
`;

/**
 * Compact tombstones (src/backends/sqlite/tombstone-packs.ts). ebb_tombstones stays where cleanup
 * writes them, exact; past a couple of thousand, the oldest move into packs: a pack holds the
 * tombstones of a range of 48-bit id fingerprints, from `lo` (its rowid: one seek finds the pack
 * of a fingerprint) to the next pack's, as one blob of (fingerprint delta, expiry ms, archive)
 * varints sorted by fingerprint, n of them. stale_at is the expiry of its eighth-oldest entry
 * (indexed): once that is past the grace window, the pack is rewritten without what can go.
 * ebb_tombstone_archives names each archive (file, at) that packed tombstones point to;
 * ebb_tombstone_forgotten lists ids forgotten while a pack still remembers their fingerprint.
 */
const TOMBSTONE_PACKS_SQL = `
CREATE TABLE ebb_tombstone_packs (
  lo INTEGER PRIMARY KEY,
  n INTEGER NOT NULL,
  stale_at INTEGER NOT NULL,
  entries BLOB NOT NULL
);
CREATE INDEX ebb_tombstone_packs_stale ON ebb_tombstone_packs (stale_at);
CREATE TABLE ebb_tombstone_archives (
  id INTEGER PRIMARY KEY,
  file TEXT NOT NULL,
  at INTEGER NOT NULL,
  UNIQUE (file, at)
);
CREATE TABLE ebb_tombstone_forgotten (
  task_id TEXT PRIMARY KEY,
  until INTEGER NOT NULL
);
`;

/**
 * Beat's storage history (src/monitor/history.ts): one row per slot (floor(at / slotMs)), the
 * primary key that lets two beats sampling at once store one sample; sample is its JSON. Indexed
 * on at, which reads (oldest first, since an instant) and trims (older than the keep window) use.
 */
const HISTORY_SQL = `
CREATE TABLE ebb_history (
  slot INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  sample TEXT NOT NULL
);
CREATE INDEX ebb_history_at ON ebb_history (at);
`;

export const MIGRATIONS: readonly Migration[] = [
  { id: "0001_messages", sql: MESSAGES_SQL },
  { id: "0002_dead_letters", sql: DEAD_LETTERS_SQL },
  { id: "0003_results", sql: RESULTS_SQL },
  { id: "0004_tombstones", sql: TOMBSTONES_SQL },
  { id: "0005_retention", sql: RETENTION_SQL },
  { id: "0006_beat", sql: BEAT_SQL },
  { id: "0007_publish_keys", sql: PUBLISH_KEYS_SQL },
  { id: "0008_tombstone_archive", sql: TOMBSTONE_ARCHIVE_SQL },
  { id: "0009_chords", sql: CHORDS_SQL },
  { id: "0010_control", sql: CONTROL_SQL },
  { id: "0011_tombstone_packs", sql: TOMBSTONE_PACKS_SQL },
  { id: "0012_history", sql: HISTORY_SQL },
];

/** Records which migrations ran; applied_at is the wall clock of the process that ran it. */
const LEDGER_SQL = `CREATE TABLE IF NOT EXISTS ebb_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`;

/**
 * Bring the schema up to date. Everything happens under BEGIN IMMEDIATE, which takes the
 * database's write lock before reading the ledger: when several processes start at once on
 * one file, the first applies the migrations and the others wait (busy_timeout), then see
 * them recorded and skip them. A failing migration rolls back with its ledger entry.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): string[] {
  const run = db.transaction(() => {
    db.exec(LEDGER_SQL);
    const rows = db.prepare<[], { id: string }>("SELECT id FROM ebb_migrations").all();
    const done = new Set(rows.map((r) => r.id));
    const record = db.prepare<[string, number]>("INSERT INTO ebb_migrations (id, applied_at) VALUES (?, ?)");
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      db.exec(m.sql);
      record.run(m.id, Date.now());
      applied.push(m.id);
    }
    return applied;
  });
  return run.immediate();
}
