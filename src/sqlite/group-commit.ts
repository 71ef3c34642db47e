import type Database from "better-sqlite3";

/**
 * Group commit for one SQLite connection: writes queued in the same turn of the event loop run
 * in ONE BEGIN IMMEDIATE transaction. A worker's tasks finish together (their fetch came back
 * together) and each stores a result and acks a message; a commit per write is what costs most
 * (the WAL append, the locks), so one commit for the lot is most of the throughput.
 *
 * run(op) queues `op`, a synchronous function of the database, and resolves with what it returned
 * once the transaction that ran it has COMMITTED (durable as the connection's synchronous setting
 * makes commits durable: see open-database.ts). The batch runs at the next setImmediate, or as
 * soon as `maxOps` are queued, so the delay is bounded by one event-loop turn and the transaction
 * by maxOps writes. Ops run in the order they were queued.
 *
 * Failure:
 *  - BEGIN or COMMIT fails (the write lock stayed busy past busy_timeout, the disk is full):
 *    the transaction is rolled back and every op of the batch rejects with that error;
 *  - an op throws: the whole transaction is rolled back (all or nothing: none of the batch's
 *    writes lands), then each op of the batch runs again in a transaction of its own, so only the
 *    op that fails rejects and the others commit. An op must therefore be safe to run again after
 *    a rollback: a function of the database's state, not of earlier runs.
 */
export class GroupCommit {
  #queued: Queued[] = [];
  #scheduled: NodeJS.Immediate | null = null;
  #microtask = false;
  #closed: string | null = null;
  /** Values computed once per transaction (memo()); cleared when a transaction starts. */
  readonly #memo = new Map<object, unknown>();
  readonly #batch: (ops: readonly Queued[], failed: { index: number }) => unknown[];
  readonly #single: (op: () => unknown) => unknown;
  /** Transactions committed (batches, and ops run alone after a batch failed). For tests and stats. */
  commits = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly maxOps = 256,
    /** Called after each commit with the count so far. */
    private readonly afterCommit?: (commits: number) => void,
  ) {
    this.#batch = db.transaction((ops: readonly Queued[], failed: { index: number }) => {
      this.#memo.clear();
      const out = new Array<unknown>(ops.length);
      for (let i = 0; i < ops.length; i++) {
        failed.index = i;
        out[i] = ops[i]!.op();
      }
      failed.index = -1;
      return out;
    }).immediate;
    this.#single = db.transaction((op: () => unknown) => {
      this.#memo.clear();
      return op();
    }).immediate;
  }

  /**
   * Queue `op` for the next group transaction; resolves with its value once that transaction has
   * committed. `committed`, if given, is called with that value first, synchronously after the
   * commit (to wake watchers of what it wrote), so a caller needs no second promise for it.
   *
   * `soon`: run the batch once the current microtasks have run, rather than at the next turn. For
   * a writer that awaits each write before the next (a loop of sends), a turn per write is a
   * wait of its own; writes made together (their promises settled together) still share a batch.
   */
  run<T>(op: () => T, committed?: (value: T) => void, soon = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closed !== null) {
        reject(new Error(this.#closed));
        return;
      }
      this.#queued.push({ op, resolve: resolve as (v: unknown) => void, reject, committed: committed as Queued["committed"] });
      if (this.#queued.length >= this.maxOps) this.flush();
      else if (soon) {
        if (!this.#microtask) {
          this.#microtask = true;
          queueMicrotask(() => {
            this.#microtask = false;
            this.flush();
          });
        }
      } else this.#scheduled ??= setImmediate(() => this.flush());
    });
  }

  /**
   * For ops: `compute()` once per transaction, under `key`. What an op reads once for the whole
   * batch (the store's clock, whether a table has any rows) is read inside the transaction, so it
   * holds for every op of it: all of them commit at the same instant, under the same write lock.
   */
  memo<T>(key: object, compute: () => T): T {
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const value = compute();
    this.#memo.set(key, value);
    return value;
  }

  /** Whether writes are waiting for the next group transaction. */
  get pending(): boolean {
    return this.#queued.length > 0;
  }

  /**
   * Run what is queued now, synchronously. Writes that must keep their order relative to the
   * queued ones (a release after an ack, a lookup's own write) call this first; close() calls it.
   */
  flush(): void {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#scheduled = null;
    }
    const batch = this.#queued;
    if (batch.length === 0) return;
    if (this.db.inTransaction) {
      // Called from inside another transaction: committing there would be that transaction's
      // commit, not ours. Run at the next turn instead.
      this.#scheduled = setImmediate(() => this.flush());
      return;
    }
    this.#queued = [];
    const failed = { index: -1 };
    let out: unknown[];
    try {
      out = this.#batch(batch, failed);
    } catch (e) {
      if (failed.index < 0 || batch.length === 1) {
        for (const q of batch) q.reject(e);
      } else {
        // One op failed and took the batch down with it: give each its own transaction.
        for (const q of batch) this.#alone(q);
      }
      return;
    }
    this.#committed();
    for (let i = 0; i < batch.length; i++) settle(batch[i]!, out[i]);
  }

  /** Run what is queued, then refuse later ops with `reason` (the connection is about to close). */
  close(reason: string): void {
    this.flush();
    this.#closed = reason;
  }

  #committed(): void {
    this.commits += 1;
    this.afterCommit?.(this.commits);
  }

  #alone(q: Queued): void {
    let value: unknown;
    try {
      value = this.#single(q.op);
    } catch (e) {
      q.reject(e);
      return;
    }
    this.#committed();
    settle(q, value);
  }
}

interface Queued {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (e: unknown) => void;
  committed: ((value: unknown) => void) | undefined;
}

/**
 * Resolve a committed op, after its `committed` callback. That callback only wakes in-process
 * watchers; if it threw, the write is committed all the same, and neither this caller nor the
 * rest of the batch may be left waiting for it.
 */
function settle(q: Queued, value: unknown): void {
  try {
    q.committed?.(value);
  } catch {
    // See above: the commit stands.
  }
  q.resolve(value);
}
