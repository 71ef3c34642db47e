import type { Broker, Delivery } from "../../brokers/broker.js";
import { leaseRefOf, PostgresBroker, type LeaseRef } from "../../brokers/postgres/postgres-broker.js";
import type { Watch } from "../../change-hub.js";
import { ChangeHub } from "../../change-hub.js";
import type { Clock } from "../../clock.js";
import { Closing } from "../../closing.js";
import { ConfigError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { migrate } from "../../postgres/pg-migrations.js";
import { PostgresPool } from "../../postgres/pg-pool.js";
import { parsePostgresUrl, quoteIdent, type PartitionWidth, type PostgresTarget } from "../../postgres/pg-url.js";
import { classifyRead, type Tombstone } from "../../retention/expiry.js";
import { checkRequest } from "../check-request.js";
import { storedOutcome } from "../stored-outcome.js";
import type {
  BackendCapabilities,
  FinishStep,
  Lookup,
  LookupOptions,
  ResultBackend,
  StoreOutcome,
  StoreRequest,
  StoredResult,
} from "../result-backend.js";
import type {
  DropOutcome,
  RemoveOptions,
  RemoveOutcome,
  ResultRecord,
  RetentionBackend,
  RetentionCapabilities,
  RetentionStore,
  ScanQuery,
  StoreFacts,
} from "../retention-store.js";
import type { ScheduleStore, ScheduleStoreHost } from "../../beat/schedule-store.js";
import type { ChordStore } from "../chord-store.js";
import { Partitions } from "./partitions.js";
import { PostgresChords } from "./postgres-chords.js";
import { PostgresScheduleStore } from "./postgres-schedule-store.js";
import { PostgresRetention } from "./postgres-retention.js";
import { ResultPoller } from "./result-poller.js";
import { encodeRequest, fromRow, SELECT_COLUMNS, storeArrays, storedFrom, type EncodedRequest, type ResultRow } from "./result-sql.js";
import { storeStatement, type StoredRow } from "./store-statement.js";
import { ItemFailure, TickBatch } from "../../tick-batch.js";

export interface PostgresBackendOptions {
  url: string;
  /** Defaults to PostgreSQL's own clock. */
  clock?: Clock;
  /** How long a watch waits before the caller looks again (changes made by other processes). Default 100. */
  pollIntervalMs?: number;
  /** How long an expired id is remembered (the app's expiredGrace). Default 7 days; a lookup() with a longer graceMs raises it. */
  graceMs?: number;
  /** Connections at most (default 10). */
  poolMax?: number;
  /** Where background work (a partition's drop) says what went wrong. */
  log?: Logger;
  /**
   * The lifetime most results get (the app's resultExpires; null: never). The partitions results
   * stored now will need are made at connect and at each housekeeping, ahead of the stores.
   */
  defaultLifetimeMs?: number | null;
}

const DEFAULT_GRACE_MS = 7 * 86_400_000;
const DEFAULT_WIDTH: PartitionWidth = "hour";
/** How many stores one statement takes at most. */
const MAX_BATCH = 500;

interface Pending {
  request: EncodedRequest;
  /** The message to ack in the same statement (finishWith). */
  ack?: LeaseRef;
}

/**
 * Results in PostgreSQL (postgresql:// or postgres://, tables in ?schema=, default "ebb"),
 * partitioned by expiry time so that expired results go a partition at a time (dropExpired) and
 * never as dead rows. The layout and its lanes are in src/postgres/migrations/0001_results.sql;
 * partitions are made on demand and ahead of time (partitions.ts).
 *
 * store() calls made in one event-loop turn go out as one statement (store-statement.ts), up to
 * 500 at a time: one round trip, one transaction, stamped with one store instant. Reads never return
 * a result past its expiry (classifyRead); ids whose rows are gone read EXPIRED from their
 * tombstone or from the expiry ledger for the grace window. The retention operations are in
 * postgres-retention.ts.
 */
export class PostgresBackend implements ResultBackend, RetentionStore, ScheduleStoreHost {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: false };
  readonly retentionCapabilities: RetentionCapabilities = {
    tiers: true,
    tombstones: true,
    perResultExpiry: true,
    bulkExpiry: true,
    ebbResults: true,
  };
  readonly retention: RetentionBackend = this;
  readonly chords: ChordStore;
  readonly url: string;
  private readonly target: PostgresTarget;
  private readonly pg: PostgresPool;
  private readonly s: string;
  private readonly clock: Clock | undefined;
  private readonly pollIntervalMs: number;
  private readonly log: Logger | undefined;
  private readonly changes = new ChangeHub();
  private readonly closing = new Closing();
  private graceMs: number;
  private readonly defaultLifetimeMs: number | null;
  private partitions!: Partitions;
  private ops!: PostgresRetention;
  /** One row per id per statement: a second store of an id waits for the next one. */
  private readonly stores = new TickBatch<Pending, StoreOutcome>((batch) => this.storeBatch(batch), {
    maxItems: MAX_BATCH,
    key: (p) => p.request.taskId,
  });
  /** PostgreSQL's clock minus this process's, measured at connect: for guessing which partitions a write needs. */
  private skewMs = 0;
  private schedules: PostgresScheduleStore | undefined;
  private readonly poller: ResultPoller;

  constructor(opts: PostgresBackendOptions) {
    this.target = parsePostgresUrl(opts.url);
    this.url = this.target.display;
    this.pg = new PostgresPool({
      connectionString: this.target.connectionString,
      display: this.target.display,
      max: opts.poolMax ?? 10,
      statementPrefix: "ebb",
    });
    this.s = quoteIdent(this.target.schema);
    this.clock = opts.clock;
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.log = opts.log;
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.defaultLifetimeMs = opts.defaultLifetimeMs ?? null;
    this.chords = new PostgresChords(this.pg, this.s, () => this.now());
    this.poller = new ResultPoller(this.pg, this.s, this.changes, topic, this.pollIntervalMs, this.log);
  }

  /** Beat's state, in the same schema and on the same clock as the results. */
  scheduleStore(): ScheduleStore {
    this.schedules ??= new PostgresScheduleStore(this.pg, this.s, this.target.schema, () => this.now());
    return this.schedules;
  }

  /** Open the pool, apply migrations (under an advisory lock), and settle the partition width. */
  async connect(): Promise<this> {
    await this.pg.open();
    try {
      await migrate(this.pg, this.target.schema);
      const width = await this.settleWidth();
      this.partitions = new Partitions(this.pg, this.target.schema, width);
      const [clock] = await this.pg.query<{ now: number }>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now");
      this.skewMs = clock!.now - Date.now();
      this.ops = new PostgresRetention({
        pg: this.pg,
        s: this.s,
        partitions: this.partitions,
        now: () => this.now(),
        graceMs: () => this.graceMs,
        defaultLifetimeMs: this.defaultLifetimeMs,
        notify: (id) => this.notify(id),
        log: this.log,
      });
      await this.ops.ensureAhead(await this.now());
    } catch (error) {
      await this.pg.close();
      throw error;
    }
    return this;
  }

  /** The width a store was made with is kept; a URL asking for another one is an error, not a silent change. */
  private async settleWidth(): Promise<PartitionWidth> {
    const asked = this.target.partition;
    await this.pg.query(`INSERT INTO ${this.s}.ebb_settings (key, value) VALUES ('partition', $1) ON CONFLICT (key) DO NOTHING`, [
      asked ?? DEFAULT_WIDTH,
    ]);
    const [row] = await this.pg.query<{ value: PartitionWidth }>(`SELECT value FROM ${this.s}.ebb_settings WHERE key = 'partition'`);
    const width = row!.value;
    if (asked !== null && asked !== width)
      throw new ConfigError(
        `${this.url}: the store in schema ${this.target.schema} is partitioned by ${width}, not ${asked}; drop ?partition= or use another ?schema=`,
      );
    return width;
  }

  async now(): Promise<number> {
    if (this.clock) return this.clock();
    const [row] = await this.pg.query<{ now: number }>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now");
    return row!.now;
  }

  /** Stored with the other store() calls of this event-loop turn, in one statement; resolves once committed. */
  store(request: StoreRequest): Promise<StoreOutcome> {
    return this.enqueue(request, undefined);
  }

  /**
   * Store and ack as one statement when `broker` keeps its messages in this backend's database and
   * schema: the result and the ack commit together, in the batch of the other stores of this
   * event-loop turn. Exactly store() then ack(): a ready result already there is kept (stored:
   * false) and the message is still acked; an ack whose lease was taken over does nothing. Null
   * for another database or another kind of broker: the worker then stores, and acks once stored.
   */
  finishWith(broker: Broker): FinishStep | null {
    if (!(broker instanceof PostgresBroker) || !sameStore(broker.target, this.target)) return null;
    return (request: StoreRequest, delivery: Delivery) => this.enqueue(request, leaseRefOf(delivery) ?? undefined);
  }

  private enqueue(request: StoreRequest, ack: LeaseRef | undefined): Promise<StoreOutcome> {
    let encoded: EncodedRequest;
    try {
      checkRequest(request);
      encoded = encodeRequest(request);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.stores.add({ request: encoded, ack });
  }

  private async storeBatch(batch: Pending[]): Promise<Array<StoreOutcome | ItemFailure>> {
    const rows = await this.storeRows(
      batch.map((p) => p.request),
      batch.flatMap((p) => (p.ack ? [p.ack] : [])),
    );
    const byId = new Map(rows.map((r) => [r.task_id, r]));
    const kept = rows.filter((r) => !r.stored).map((r) => r.task_id);
    const keptRows = kept.length === 0 ? new Map<string, StoredResult>() : await this.readMany(kept);
    return batch.map(({ request }) => {
      const row = byId.get(request.taskId);
      const keptRow = keptRows.get(request.taskId);
      if (row?.stored) {
        this.notify(request.taskId);
        return storedOutcome(() => storedFrom(request, row.date_done, row.expires_at, row.held));
      }
      if (keptRow) return { stored: false, result: keptRow };
      return new ItemFailure(new Error(`The store of result ${request.taskId} came back without its row; store it again`));
    });
  }

  /** The store statement, with the partitions it needs made first (and once more if the clock moved into a new one). */
  private async storeRows(batch: EncodedRequest[], acks: LeaseRef[]): Promise<StoredRow[]> {
    const now = this.clock?.();
    const params: unknown[] = [...storeArrays(batch), now ?? null];
    if (acks.length > 0)
      params.push(
        acks.map((a) => a.id),
        acks.map((a) => a.token),
      );
    const text = storeStatement(this.s, "all", acks.length > 0);
    for (let attempt = 0; ; attempt++) {
      await this.ensureFor(batch, now ?? Date.now() + this.skewMs);
      try {
        return await this.pg.query<StoredRow>(text, params);
      } catch (error) {
        // 23514: no partition for a row (another process dropped or the clock crossed a boundary);
        // 23505: another process stored one of these ids at the same moment. Both: look again.
        const code = (error as { code?: string }).code;
        if (attempt >= 2 || (code !== "23514" && code !== "23505")) throw error;
        this.partitions.forgetAll();
      }
    }
  }

  private async ensureFor(batch: readonly EncodedRequest[], now: number): Promise<void> {
    // A batch nearly always holds one or two lifetimes: look at each once, not at every row.
    const lifetimes = new Set<number>();
    const actions = new Set<string>();
    for (const r of batch) {
      if (r.lifetimeMs === null) continue;
      lifetimes.add(r.lifetimeMs);
      actions.add(r.action);
    }
    if (lifetimes.size === 0) return;
    // A few seconds either way: the store's clock decides, and it may be a little off ours.
    const expiries: number[] = [];
    for (const lifetime of lifetimes) expiries.push(now + lifetime - 5_000, now + lifetime + 5_000);
    await this.partitions.ensure("ledger", expiries);
    if (actions.has("delete")) await this.partitions.ensure("delete", expiries);
    if (actions.has("archive")) await this.partitions.ensure("archive", expiries);
  }

  private async readMany(ids: string[]): Promise<Map<string, StoredResult>> {
    const rows = await this.pg.query<ResultRow>(`SELECT ${SELECT_COLUMNS} FROM ${this.s}.ebb_results WHERE task_id = ANY($1::text[])`, [
      ids,
    ]);
    return new Map(rows.map((r) => [r.task_id, fromRow(r)]));
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    // The ledger and tombstones must outlive the longest grace anyone reads with.
    this.graceMs = Math.max(this.graceMs, options.graceMs);
    const [row] = await this.pg.query<ResultRow>(`SELECT ${SELECT_COLUMNS} FROM ${this.s}.ebb_results WHERE task_id = $1`, [taskId]);
    const now = await this.now();
    return classifyRead(taskId, row && fromRow(row), row ? undefined : await this.tombstoneOf(taskId, now), now, options.graceMs);
  }

  /** The id's tombstone (removed one at a time), else its ledger entry (its partition was dropped). */
  private async tombstoneOf(taskId: string, now: number): Promise<Tombstone | undefined> {
    const [t] = await this.pg.query<{ expired_at: number; archive_file: string | null; archived_at: number | null }>(
      `SELECT expired_at, archive_file, archived_at FROM ${this.s}.ebb_tombstones WHERE task_id = $1`,
      [taskId],
    );
    if (t)
      return {
        expiredAt: t.expired_at,
        ...(t.archive_file !== null ? { archived: { file: t.archive_file, at: t.archived_at ?? t.expired_at } } : {}),
      };
    const [l] = await this.pg.query<{ expires_at: number | null }>(
      `SELECT max(expires_at) AS expires_at FROM ${this.s}.ebb_expiry_ledger WHERE id_hash = hashtextextended($1, 0) AND expires_at <= $2`,
      [taskId, now],
    );
    return l?.expires_at != null ? { expiredAt: l.expires_at } : undefined;
  }

  /** The result, its tombstone and its ledger entries, in one transaction: the id is unknown afterwards. */
  async forget(taskId: string): Promise<boolean> {
    await this.settled();
    const removed = await this.ops.forget(taskId);
    if (removed) this.notify(taskId);
    return removed;
  }

  /**
   * Woken at once by writes in this process; other processes' writes are seen by the shared
   * poll (result-poller.ts) within pollIntervalMs, one query for all the ids watched here.
   */
  async watch(taskId: string): Promise<Watch> {
    const watch = this.changes.watch(topic(taskId));
    const unpoll = this.poller.add(taskId);
    return {
      changed: (ms, signal) => this.closing.during(signal, (s) => watch.changed(ms, s)),
      close: () => {
        unpoll();
        watch.close();
      },
    };
  }

  /** Hold or release; the row moves to the kept lane (held) or back to its expiry partition. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    await this.settled();
    const changed = await this.ops.setHeld(taskId, held);
    if (changed) this.notify(taskId);
    return changed;
  }

  scan(query: ScanQuery): AsyncIterable<ResultRecord[]> {
    return this.ops.scan(query);
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    return this.ops.read(taskId);
  }

  async remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    await this.settled();
    return this.ops.remove(records, options);
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    await this.settled();
    return this.ops.markArchived(taskIds);
  }

  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    await this.settled();
    return this.ops.put(result, options.replace);
  }

  async storeFacts(): Promise<StoreFacts> {
    return this.ops.storeFacts();
  }

  async dropExpired(before: number): Promise<DropOutcome> {
    await this.settled();
    return this.ops.dropExpired(before);
  }

  /** Resolves once the partitions dropExpired() detached are dropped and their disk space returned. */
  async reclaimed(): Promise<void> {
    await this.ops.reclaimed();
  }

  async housekeep(): Promise<number> {
    return this.ops.housekeep(await this.now());
  }

  async close(): Promise<void> {
    if (this.closing.closed) return;
    await this.settled();
    this.closing.close();
    this.poller.stop();
    await this.ops?.reclaimed();
    await this.pg.close();
  }

  /** Stores already asked for have been written (retention operations see them). */
  private settled(): Promise<void> {
    return this.stores.drain();
  }

  private notify(taskId: string): void {
    this.changes.notify(topic(taskId));
  }
}

/** One database and schema: a broker there and this backend can write in one transaction. */
function sameStore(a: PostgresTarget, b: PostgresTarget): boolean {
  return a.connectionString === b.connectionString && a.schema === b.schema;
}

function topic(taskId: string): string {
  return `result:${taskId}`;
}
