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

export const MIGRATIONS: readonly Migration[] = [
  { id: "0001_messages", sql: MESSAGES_SQL },
  { id: "0002_dead_letters", sql: DEAD_LETTERS_SQL },
  { id: "0003_results", sql: RESULTS_SQL },
  { id: "0004_tombstones", sql: TOMBSTONES_SQL },
  { id: "0005_retention", sql: RETENTION_SQL },
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
