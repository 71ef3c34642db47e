import { parseCeleryJson, stringifyCeleryJson } from "../../protocol/celery-json.js";
import { ChangeHub, type Watch } from "../../change-hub.js";
import { systemClock, type Clock } from "../../clock.js";
import { isReady } from "../../states.js";
import { classifyRead, stampsFor, tombstoneInstant, type Tombstone } from "../../retention/expiry.js";
import { redactUrl } from "../../url.js";
import type {
  BackendCapabilities,
  Lookup,
  LookupOptions,
  ResultBackend,
  StoreOutcome,
  StoreRequest,
  StoredResult,
} from "../result-backend.js";
import type {
  RemoveOptions,
  RemoveOutcome,
  ResultRecord,
  RetentionBackend,
  RetentionCapabilities,
  RetentionStore,
  ScanQuery,
  StoreFacts,
} from "../retention-store.js";
import { matchesScan } from "../scan-match.js";
import type { ScheduleStore, ScheduleStoreHost } from "../../beat/schedule-store.js";
import { MemoryScheduleStore } from "./memory-schedule-store.js";
import { MemoryChords } from "./memory-chords.js";
import type { ChordStore } from "../chord-store.js";

export interface MemoryBackendOptions {
  url?: string;
  clock?: Clock;
  /** How long cleanup's tombstones are kept (the app's expiredGrace). Default 7 days; a lookup() with a longer graceMs raises it. */
  graceMs?: number;
}

const DEFAULT_GRACE_MS = 7 * 86_400_000;
/** Tombstones looked at per remove() for pruning: bounded work per cleanup batch. */
const PRUNE_BATCH = 500;

/**
 * An in-process result backend for tests and single-process apps. It keeps results as JSON
 * text, like the stored backends do, so values round-trip exactly as they would through
 * SQLite or Redis (and a caller mutating an object after store() changes nothing).
 */
export class MemoryBackend implements ResultBackend, RetentionStore, ScheduleStoreHost {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: true };
  readonly retentionCapabilities: RetentionCapabilities = {
    tiers: true,
    tombstones: true,
    perResultExpiry: true,
    bulkExpiry: false,
    ebbResults: true,
  };
  readonly retention: RetentionBackend = this;
  readonly chords: ChordStore;
  readonly url: string;
  private readonly clock: Clock;
  private readonly records = new Map<string, string>();
  /** Ids whose results were cleaned after expiry (or archived away) → when, and the archive. */
  private readonly tombstones = new Map<string, Tombstone>();
  /** Ids whose current result is in a complete, verified archive. */
  private readonly archived = new Set<string>();
  private graceMs: number;
  private readonly hub = new ChangeHub();
  private schedules: MemoryScheduleStore | undefined;

  constructor(opts: MemoryBackendOptions = {}) {
    this.url = redactUrl(opts.url ?? "memory://");
    this.clock = opts.clock ?? systemClock;
    this.chords = new MemoryChords(this.clock);
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  /** Beat's state, beside the results and on the same clock. */
  scheduleStore(): ScheduleStore {
    this.schedules ??= new MemoryScheduleStore(this.clock);
    return this.schedules;
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    const existing = this.load(request.taskId);
    if (existing && isReady(existing.status)) return { stored: false, result: existing };
    const now = this.clock();
    const { dateDone, expiresAt } = stampsFor(request.status, request.lifetimeMs, now);
    const result: StoredResult = {
      taskId: request.taskId,
      status: request.status,
      result: request.result ?? null,
      traceback: request.traceback,
      children: request.children ?? [],
      dateDone,
      expiresAt,
      tier: request.tier,
      action: request.action,
      // A hold belongs to the task id, not to one write of it.
      held: existing?.held ?? false,
      name: request.name ?? null,
      args: request.args ?? null,
      kwargs: request.kwargs ?? null,
      worker: request.worker ?? null,
      retries: request.retries ?? null,
      queue: request.queue ?? null,
    };
    this.write(result);
    // A replaced (unfinished) result's archive is not this result's archive.
    this.archived.delete(request.taskId);
    this.tombstones.delete(request.taskId);
    this.notify(request.taskId);
    return { stored: true, result: this.load(request.taskId)! };
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    this.graceMs = Math.max(this.graceMs, options.graceMs);
    return classifyRead(taskId, this.load(taskId), this.tombstones.get(taskId), this.clock(), options.graceMs);
  }

  async forget(taskId: string): Promise<boolean> {
    const removed = this.records.delete(taskId);
    this.archived.delete(taskId);
    const hadTombstone = this.tombstones.delete(taskId);
    if (removed || hadTombstone) this.notify(taskId);
    return removed || hadTombstone;
  }

  async watch(taskId: string): Promise<Watch> {
    return this.hub.watch(taskId);
  }

  /** Streams over the live map: entries removed during the scan are skipped, none is seen twice unless re-stored. */
  async *scan(query: ScanQuery): AsyncGenerator<ResultRecord[]> {
    const size = Math.max(1, Math.floor(query.batchSize));
    let batch: ResultRecord[] = [];
    for (const [taskId, text] of this.records) {
      const r = this.record(taskId, text);
      if (!matchesScan(r, query)) continue;
      batch.push(r);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    const text = this.records.get(taskId);
    return text === undefined ? null : this.record(taskId, text);
  }

  /** The same re-check as SQLite's: not held, same status, dateDone and expiresAt as scanned. */
  async remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    const now = this.clock();
    const out: RemoveOutcome = { removed: [], bytes: 0, kept: [] };
    for (const r of records) {
      const text = this.records.get(r.taskId);
      const cur = text === undefined ? undefined : (parseCeleryJson(text) as StoredResult);
      if (!cur || cur.held || cur.status !== r.status || cur.dateDone !== r.dateDone || cur.expiresAt !== r.expiresAt) {
        out.kept.push(r.taskId);
        continue;
      }
      this.records.delete(r.taskId);
      this.archived.delete(r.taskId);
      if (options.remember) {
        this.tombstones.set(r.taskId, {
          expiredAt: tombstoneInstant(cur.expiresAt, now),
          ...(options.archive ? { archived: { ...options.archive } } : {}),
        });
      }
      out.removed.push(r.taskId);
      out.bytes += Buffer.byteLength(text!);
      this.notify(r.taskId);
    }
    if (options.remember) this.pruneTombstones(now);
    return out;
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    let marked = 0;
    for (const id of taskIds) {
      if (!this.records.has(id)) continue;
      this.archived.add(id);
      marked += 1;
    }
    return marked;
  }

  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    if (!options.replace && this.records.has(result.taskId)) return false;
    this.write(asStored(result));
    if ((result as Partial<ResultRecord>).archived === true) this.archived.add(result.taskId);
    else this.archived.delete(result.taskId);
    this.tombstones.delete(result.taskId);
    this.notify(result.taskId);
    return true;
  }

  async storeFacts(): Promise<StoreFacts> {
    return { kind: "memory", results: this.records.size, tombstones: this.tombstones.size };
  }

  /** Put a legal hold on a stored result, or release it. False when there is no such result. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const result = this.load(taskId);
    if (!result) return false;
    this.write({ ...result, held });
    this.notify(taskId);
    return true;
  }

  /** Ends pending waits; the results stay (brokerFromUrl/backendFromUrl share one instance per URL). */
  async close(): Promise<void> {
    this.hub.notifyAll();
  }

  private load(taskId: string): StoredResult | undefined {
    const text = this.records.get(taskId);
    return text === undefined ? undefined : (parseCeleryJson(text) as StoredResult);
  }

  private record(taskId: string, text: string): ResultRecord {
    return {
      ...(parseCeleryJson(text) as StoredResult),
      bytes: Buffer.byteLength(text),
      origin: "ebb",
      archived: this.archived.has(taskId),
    };
  }

  /** Drops tombstones past the grace window, looking at a bounded number from the oldest-written end. */
  private pruneTombstones(now: number): void {
    let looked = 0;
    for (const [id, t] of this.tombstones) {
      if (++looked > PRUNE_BATCH) break;
      if (t.expiredAt + this.graceMs < now) this.tombstones.delete(id);
    }
  }

  private write(result: StoredResult): void {
    this.records.set(result.taskId, stringifyCeleryJson(result));
  }

  private notify(taskId: string): void {
    this.hub.notify(taskId);
  }
}

/** Exactly the StoredResult fields (a ResultRecord given to put() carries more), absent extended fields as null. */
function asStored(r: StoredResult): StoredResult {
  return {
    taskId: r.taskId,
    status: r.status,
    result: r.result ?? null,
    traceback: r.traceback ?? null,
    children: r.children ?? [],
    dateDone: r.dateDone,
    expiresAt: r.expiresAt,
    tier: r.tier ?? null,
    action: r.action,
    held: r.held,
    name: r.name ?? null,
    args: r.args ?? null,
    kwargs: r.kwargs ?? null,
    worker: r.worker ?? null,
    retries: r.retries ?? null,
    queue: r.queue ?? null,
  };
}
