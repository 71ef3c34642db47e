import { ChangeHub } from "../change-hub.js";
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { Clock } from "../clock.js";
import { StoreUnavailableError } from "../errors.js";
import { Checkpointer, START_AFTER_COMMITS } from "./checkpointer.js";
import { GroupCommit } from "./group-commit.js";
import { migrate } from "./migrations.js";
import { MEMORY_PATH } from "./sqlite-url.js";

/**
 * One SQLite file serves both the broker and the result backend, so a process keeps ONE
 * connection per file: the two share it (and its in-process change signal), and closing
 * one does not pull the connection from under the other.
 */
export interface SqliteHandle {
  readonly db: Database.Database;
  /** Absolute path with symbolic links resolved (one file, one path), or ":memory:". */
  readonly path: string;
  /** Wakes waiters in this process at once; other processes still find changes by polling. */
  readonly changes: ChangeHub;
  /**
   * Writes queued in one event-loop turn commit as one transaction (the broker's acks, the
   * backend's stores, and finishes that do both). Shared by every user of the connection, so a
   * broker's ack and a backend's store of the same turn share a commit.
   */
  readonly commits: GroupCommit;
  /** Give this user's reference back; the connection closes with the last one. Idempotent. */
  close(): void;
}

interface Shared {
  db: Database.Database;
  changes: ChangeHub;
  commits: GroupCommit;
  /** Checkpoints on a thread, once this connection commits steadily (checkpointer.ts). */
  checkpointer: Checkpointer | null;
  refs: number;
}

const open = new Map<string, Shared>();

/** Open (or share) the database at an absolute path or ":memory:", with pragmas set and the schema migrated. */
export function openDatabase(given: string): SqliteHandle {
  const path = canonicalPath(given);
  let shared = open.get(path);
  if (!shared) {
    const db = connect(path);
    try {
      migrate(db);
    } catch (err) {
      db.close();
      throw err;
    }
    const startCheckpointer = (n: number) => {
      if (n === START_AFTER_COMMITS && entry.refs > 0 && path !== MEMORY_PATH) entry.checkpointer = new Checkpointer(path, db);
    };
    const entry: Shared = {
      db,
      changes: new ChangeHub(),
      commits: new GroupCommit(db, undefined, startCheckpointer),
      checkpointer: null,
      refs: 0,
    };
    shared = entry;
    open.set(path, shared);
  }
  shared.refs += 1;
  const entry = shared;
  let closed = false;
  return {
    db: entry.db,
    path,
    changes: entry.changes,
    commits: entry.commits,
    close() {
      if (closed) return;
      closed = true;
      entry.refs -= 1;
      if (entry.refs === 0) {
        open.delete(path);
        // What was queued commits before the connection goes; later writes are refused.
        try {
          entry.commits.close(`The SQLite database ${path} is closed`);
        } finally {
          entry.checkpointer?.stop();
          entry.db.close();
        }
      }
    },
  };
}

/**
 * One key per file, so two URLs naming one file (a relative and an absolute path, a symbolic
 * link to its directory) share one connection: the broker and the backend then share its group
 * commit, and finishWith() recognises them as one store. The file itself may not exist yet.
 */
function canonicalPath(path: string): string {
  if (path === MEMORY_PATH) return path;
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path; // connect() says what is wrong with it
    }
  }
}

function connect(path: string): Database.Database {
  if (path !== MEMORY_PATH && !existsSync(dirname(path))) {
    throw new StoreUnavailableError(
      `Cannot open SQLite database ${path}: directory ${dirname(path)} does not exist; create it (mkdir -p ${dirname(path)}) or point the sqlite:// URL at an existing directory`,
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    // busy_timeout first: the WAL switch and migrations may meet another process's lock.
    db.pragma("busy_timeout = 5000");
    whileBusy(() => db!.pragma("journal_mode = WAL"));
    // NORMAL is durable across application crashes in WAL mode; only power loss can lose the last commits.
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    return db;
  } catch (err) {
    db?.close();
    const why = err instanceof Error ? err.message : String(err);
    throw new StoreUnavailableError(
      `Cannot open SQLite database ${path}: ${why}; check that the path is a writable SQLite file (or does not exist yet) and that its directory is writable`,
      { cause: err },
    );
  }
}

/**
 * Switching a brand-new file to WAL needs an exclusive lock, and SQLite reports SQLITE_BUSY at
 * once rather than calling the busy handler when another process is doing the same (waiting
 * could deadlock). So when several processes open a new file together, try again for a while.
 */
function whileBusy<T>(fn: () => T, budgetMs = 5_000): T {
  const deadline = performance.now() + budgetMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      return fn();
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY" || performance.now() > deadline) throw e;
      // A synchronous pause: opening a database is synchronous in better-sqlite3.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    }
  }
}

/**
 * The store's clock. Time decisions (leases, expiry) come from SQLite's own clock unless a
 * clock is injected (tests). ROUND, not a bare CAST: unixepoch('subsec') is a REAL and
 * truncating x.311 * 1000 can give ...310. A worker asks for the time once per task (and
 * the answer is in whole milliseconds): a reading is reused for REUSE_MS of monotonic time, so
 * SQLite is asked at most about once a millisecond and the answer is still SQLite's clock.
 */
export function storeClock(db: Database.Database, clock?: Clock): Clock {
  if (clock) return clock;
  const stmt = db.prepare<[], number>("SELECT CAST(ROUND(unixepoch('subsec') * 1000) AS INTEGER)").pluck();
  let reading = 0;
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    const t = performance.now();
    if (t - readAt < REUSE_MS) return reading;
    reading = stmt.get()!;
    readAt = t;
    return reading;
  };
}

const REUSE_MS = 1;

/** Topic-keyed wake-ups within one process. */
