import type { ResultRecord, RetentionStore } from "../backends/retention-store.js";
import type { StoredState } from "../states.js";

const HOUR = 3_600_000;
/** The expiry outlook's spans: per hour over the next 48 hours, per day over the next 30 days. */
export const OUTLOOK_HOURS = 48;
export const OUTLOOK_DAYS = 30;

/** Results and bytes of one tier in one state ("none" for results without a tier). */
export interface CensusCell {
  tier: string;
  state: StoredState;
  count: number;
  bytes: number;
}

/**
 * One count of the whole store, at one instant of the store's clock: the model that `ebb stats`,
 * beat's history samples, the dashboard and the `ebb_` metrics all read. Held and permanent
 * results are in the cells (they take room); they are never counted as expiring or pending.
 */
export interface Census {
  /** Store clock when the count started, epoch ms. */
  at: number;
  total: number;
  bytes: number;
  cells: CensusCell[];
  held: number;
  permanent: number;
  /** Expired, not held, not yet removed: cleanup's backlog. */
  expiredPending: number;
  /** The earliest expiresAt among expiredPending, or null. */
  oldestPendingExpiry: number | null;
  /** Of expiredPending, those expired before `graceCutoff` (null when no cutoff was given). */
  expiredBeforeCutoff: number | null;
  oldestDateDone: number | null;
  /** The earliest expiry still to come (held results excluded). */
  nextExpiry: number | null;
  /** Results (not held) expiring within 1 h, 24 h and 7 d of `at`. */
  expiring: { hour: number; day: number; week: number };
  /** What expires per hour over the next 48 hours (index 0 = [at, at+1h)), with bytes. */
  hourly: { count: number; bytes: number }[];
  /** What expires per day over the next 30 days (index 0 = [at, at+24h)), with bytes. */
  daily: { count: number; bytes: number }[];
  /** Bytes held by expiredPending. */
  pendingBytes: number;
  /** The largest results (options.largest of them, biggest first; ties by id), for the Storage page. */
  largest: LargeResult[];
  /** How long the count took, ms (a scan of a large Redis store takes seconds). */
  tookMs: number;
}

export interface LargeResult {
  taskId: string;
  bytes: number;
  tier: string;
  state: StoredState;
  name: string | null;
}

export interface CensusOptions {
  /** Also count the expired results pending since before this instant (epoch ms): cleanup overdue. */
  graceCutoff?: number;
  /** Results read per batch when scanning. Default 1000. */
  batchSize?: number;
  /** Also find this many of the largest results. Default 0. */
  largest?: number;
}

/** A store that counts itself without reading every result (SQL aggregates). */
export interface CensusSource {
  census(options: CensusOptions): Promise<Census>;
}

export function hasCensus(store: unknown): store is CensusSource {
  return typeof store === "object" && store !== null && typeof (store as CensusSource).census === "function";
}

/**
 * Count the store: with its own aggregate where it has one, else by one streaming scan (memory
 * stays bounded; other work in the process runs between batches).
 */
export async function census(store: RetentionStore, options: CensusOptions = {}): Promise<Census> {
  return hasCensus(store) ? store.census(options) : scanCensus(store, options);
}

/** The census by one streaming scan, whatever the store (a store's own aggregate must agree with it). */
export async function scanCensus(store: RetentionStore, options: CensusOptions = {}): Promise<Census> {
  const started = performance.now();
  const tally = new CensusTally(await store.now(), options.graceCutoff, options.largest);
  for await (const batch of store.scan({ batchSize: options.batchSize ?? 1000, includeHeld: true })) {
    for (const r of batch) tally.add(r);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return tally.finish(performance.now() - started);
}

type Counted = Pick<ResultRecord, "taskId" | "name" | "status" | "tier" | "bytes" | "held" | "expiresAt" | "dateDone">;

/** Adds results one by one into a Census (the scan path, and stores that stream their own rows). */
export class CensusTally {
  private readonly cells = new Map<string, CensusCell>();
  private readonly c: Census;

  constructor(
    readonly at: number,
    readonly graceCutoff?: number,
    private readonly keepLargest = 0,
  ) {
    this.c = emptyCensus(at, graceCutoff !== undefined);
  }

  add(r: Counted): void {
    this.addCell(r.tier ?? "none", r.status, 1, r.bytes);
    this.addLarge({ taskId: r.taskId, bytes: r.bytes, tier: r.tier ?? "none", state: r.status, name: r.name ?? null });
    this.addFlags(r.held ? 1 : 0, r.expiresAt === null ? 1 : 0, r.dateDone);
    if (r.held || r.expiresAt === null) return;
    const ahead = r.expiresAt - this.at;
    if (ahead <= 0) this.addPending(1, r.bytes, r.expiresAt, this.graceCutoff !== undefined && r.expiresAt < this.graceCutoff ? 1 : 0);
    else this.addHour(Math.floor((ahead - 1) / HOUR), 1, r.bytes, r.expiresAt);
  }

  /** A candidate for the largest results (kept only while among the biggest keepLargest). */
  addLarge(r: LargeResult): void {
    const list = this.c.largest;
    if (list.length >= this.keepLargest && (this.keepLargest === 0 || !bigger(r, list[list.length - 1]!))) return;
    let i = list.length;
    while (i > 0 && bigger(r, list[i - 1]!)) i--;
    list.splice(i, 0, r);
    if (list.length > this.keepLargest) list.pop();
  }

  /** Results of one tier in one state. */
  addCell(tier: string, state: StoredState, count: number, bytes: number): void {
    this.c.total += count;
    this.c.bytes += bytes;
    const key = `${tier}\u0000${state}`;
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { tier, state, count: 0, bytes: 0 };
      this.cells.set(key, cell);
    }
    bump(cell, count, bytes);
  }

  addFlags(held: number, permanent: number, oldestDateDone: number | null): void {
    this.c.held += held;
    this.c.permanent += permanent;
    if (oldestDateDone !== null) this.c.oldestDateDone = min(this.c.oldestDateDone, oldestDateDone);
  }

  /** Expired results (not held) that cleanup has not removed yet; `beforeCutoff` of them expired before the grace cutoff. */
  addPending(count: number, bytes: number, oldestExpiry: number, beforeCutoff: number): void {
    const c = this.c;
    c.expiredPending += count;
    c.pendingBytes += bytes;
    c.oldestPendingExpiry = min(c.oldestPendingExpiry, oldestExpiry);
    if (c.expiredBeforeCutoff !== null) c.expiredBeforeCutoff += beforeCutoff;
  }

  /** Results (not held) expiring in hour `h` from `at` (0 = within the next hour); `first` is the earliest expiry among them. */
  addHour(h: number, count: number, bytes: number, first: number): void {
    const c = this.c;
    c.nextExpiry = min(c.nextExpiry, first);
    if (h < 1) c.expiring.hour += count;
    if (h < 24) c.expiring.day += count;
    if (h < 7 * 24) c.expiring.week += count;
    if (h < OUTLOOK_HOURS) bump(c.hourly[h]!, count, bytes);
    if (h < OUTLOOK_DAYS * 24) bump(c.daily[Math.floor(h / 24)]!, count, bytes);
  }

  finish(tookMs: number): Census {
    this.c.cells = [...this.cells.values()].sort((a, b) => a.tier.localeCompare(b.tier) || a.state.localeCompare(b.state));
    this.c.tookMs = Math.round(tookMs);
    return this.c;
  }
}

export function emptyCensus(at: number, withCutoff = false): Census {
  return {
    at,
    total: 0,
    bytes: 0,
    cells: [],
    held: 0,
    permanent: 0,
    expiredPending: 0,
    oldestPendingExpiry: null,
    expiredBeforeCutoff: withCutoff ? 0 : null,
    oldestDateDone: null,
    nextExpiry: null,
    expiring: { hour: 0, day: 0, week: 0 },
    hourly: Array.from({ length: OUTLOOK_HOURS }, () => ({ count: 0, bytes: 0 })),
    daily: Array.from({ length: OUTLOOK_DAYS }, () => ({ count: 0, bytes: 0 })),
    pendingBytes: 0,
    largest: [],
    tookMs: 0,
  };
}

/** Counts and bytes per tier, summed over states. */
export function byTier(c: Census): Record<string, { count: number; bytes: number }> {
  const out: Record<string, { count: number; bytes: number }> = {};
  for (const cell of c.cells) {
    out[cell.tier] ??= { count: 0, bytes: 0 };
    bump(out[cell.tier]!, cell.count, cell.bytes);
  }
  return out;
}

/** Counts and bytes per state, summed over tiers. */
export function byState(c: Census): Record<string, { count: number; bytes: number }> {
  const out: Record<string, { count: number; bytes: number }> = {};
  for (const cell of c.cells) {
    out[cell.state] ??= { count: 0, bytes: 0 };
    bump(out[cell.state]!, cell.count, cell.bytes);
  }
  return out;
}

function bump(slot: { count: number; bytes: number }, count: number, bytes: number): void {
  slot.count += count;
  slot.bytes += bytes;
}

function bigger(a: LargeResult, b: LargeResult): boolean {
  return a.bytes > b.bytes || (a.bytes === b.bytes && a.taskId < b.taskId);
}

function min(a: number | null, b: number): number {
  return a === null || b < a ? b : a;
}
