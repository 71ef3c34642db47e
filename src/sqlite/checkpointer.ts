import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/**
 * WAL checkpoints off the event loop. In WAL mode a commit appends pages to the -wal file, and
 * a checkpoint copies them back into the database file, with an fsync of each: SQLite runs one
 * inside whichever commit takes the WAL past wal_autocheckpoint pages (1000 by default), on the
 * committing thread. For a busy worker that is a stall of milliseconds every few dozen commits,
 * on the event loop. Once a connection commits steadily (see START_AFTER_COMMITS), a worker
 * thread with its own connection to the file runs PASSIVE checkpoints every few milliseconds
 * instead, and the main connection's own threshold is raised to a fallback that it meets only
 * if the thread falls far behind (or has stopped).
 *
 * Durability is unchanged: a commit is durable when it returns, as the connection's synchronous
 * setting makes it (open-database.ts); a checkpoint only moves committed pages from the WAL into
 * the database file, and a checkpoint cut short (the process dies) is finished by the next one.
 * PASSIVE never waits for, nor blocks, a reader or a writer.
 */

/** Commits on one connection before its checkpoints move to a thread: a short-lived handle never starts one. */
export const START_AFTER_COMMITS = 200;
/** How often the thread checkpoints. */
const EVERY_MS = 10;
/** WAL pages at which the main connection checkpoints by itself while the thread runs (8 MB of 4 KB pages): the thread has copied most of them by then, and a checkpoint that completes lets the next commit start the WAL over, which keeps it small. */
const FALLBACK_AUTOCHECKPOINT = 2_000;
/** SQLite's own default, put back when the thread stops. */
const DEFAULT_AUTOCHECKPOINT = 1_000;

const SQLITE_MODULE = pathToFileURL(createRequire(import.meta.url).resolve("better-sqlite3")).href;

// The thread's code, as a string so it runs the same from src (tests) and from dist. It imports
// rather than requires, so it runs as an ES module or as CommonJS alike.
const THREAD = `
Promise.all([import("node:worker_threads"), import(${JSON.stringify(SQLITE_MODULE)})]).then(([{ parentPort, workerData }, { default: Database }]) => {
  const db = new Database(workerData.path, { fileMustExist: true });
  db.pragma("synchronous = NORMAL");
  const timer = setInterval(() => {
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch {
      // Busy or a passing I/O error: the next round tries again, and the main connection's fallback is there.
    }
  }, workerData.everyMs);
  parentPort.on("message", () => {
    clearInterval(timer);
    db.close();
    parentPort.close();
  });
  parentPort.postMessage("ready");
});
`;

export class Checkpointer {
  readonly #worker: Worker;
  #stopped = false;

  /** Start checkpointing `path` from a thread; `db` is the main connection, whose own threshold becomes the fallback. */
  constructor(
    path: string,
    private readonly db: Database.Database,
  ) {
    this.#worker = new Worker(THREAD, { eval: true, workerData: { path, everyMs: EVERY_MS } });
    this.#worker.unref();
    this.#worker.once("message", () => {
      if (!this.#stopped && db.open) db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
    });
    // A thread that could not start or died: the main connection checkpoints by itself again.
    const fallBack = () => this.#restore();
    this.#worker.once("error", fallBack);
    this.#worker.once("exit", fallBack);
  }

  /** Stop the thread (its connection closes); the main connection checkpoints by itself again. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#restore();
    this.#worker.postMessage("stop");
  }

  #restore(): void {
    this.#stopped = true;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
  }
}
