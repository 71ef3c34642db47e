/**
 * What beat needs from a store: each entry's state, the claim of its ticks, a bounded history of
 * fires, and the record of cleanup runs. Every Ebb result store implements it (memory, SQLite,
 * Redis), so any number of beat processes on one store share one schedule state and no process
 * keeps a local file. Store words (rows, keys, Lua) stay inside each store's folder.
 *
 * Rules every implementation keeps:
 *  - claim() is atomic. It applies only when the entry's state is still the one the claim was
 *    planned from (same lastTick and schedule fingerprint, or still absent); otherwise it changes
 *    nothing and returns the state it found, and the caller plans again. Each fire's
 *    (entry, tick) key is taken uniquely (a unique row on SQLite, SET NX with an expiry on
 *    Redis): a tick already taken makes the whole claim fail. So two beats never fire one tick.
 *  - A fire is claimed before its message is sent, with the message kept beside it (the outbox)
 *    until markSent(). A fire left unsent by a beat that died is found by unsent() and sent again
 *    by another beat, through the broker's publishOnce() under the same key, so it is neither
 *    lost nor sent twice.
 *  - History is bounded per entry (historyLimit, oldest dropped first); cleanup runs are bounded
 *    in total (RUNS_KEPT).
 *  - Instants are epoch ms from the store's clock (now()).
 *  - Storage history (samples of the result store's census, src/monitor/history.ts): addSample()
 *    takes a slot (floor(at / slotMs)) atomically, so beats sampling at once store one sample per
 *    slot; the same call drops samples older than at - keepMs, at most HISTORY_TRIM_BATCH of them
 *    (so one call's work is bounded even after keep was shortened). Stored as the sample's JSON.
 */

import type { StorageSample } from "../monitor/history.js";

/** How many cleanup runs a store keeps (newest first). */
export const RUNS_KEPT = 500;

/** Samples addSample() drops per call at most (the oldest first). */
export const HISTORY_TRIM_BATCH = 1_000;

/** How addSample() slots and keeps samples. */
export interface SampleOptions {
  /** The slot width, ms (> 0): one sample per floor(at / slotMs). */
  slotMs: number;
  /** Samples older than the new sample's at - keepMs are dropped. */
  keepMs: number;
}

export interface EntryState {
  entry: string;
  /** The schedule (and time zone) the ticks were counted with; a change starts the entry afresh. */
  schedule: string;
  /** The newest tick that was fired or passed over: no tick at or before it is fired again. */
  lastTick: number;
  /** The next tick after lastTick, as the last claim computed it; null when the schedule has no more. */
  nextTick: number | null;
  /** Fires sent since the entry was first seen (catch-ups included). */
  fired: number;
  /** Ticks passed over without a run (beat was down, and the catch-up policy did not send them). */
  missed: number;
  /** Fires that were catch-ups. */
  catchUps: number;
  /** The newest fire, or null before the first. */
  lastFire: FireRecord | null;
}

/** The message of one fire, kept until it is confirmed sent. */
export interface OutboxMessage {
  /** The TransportMessage as serializeTransportMessage() writes it (text, so every store can keep it). */
  raw: string;
  queue: string;
  priority: number;
  availableAt: number | null;
}

export interface FireRecord {
  entry: string;
  /** The intended tick instant. */
  tick: number;
  taskId: string;
  catchUp: boolean;
  /** Store clock when the tick was claimed. */
  claimedAt: number;
  /** Store clock when the message was confirmed sent; null until then. */
  sentAt: number | null;
}

export interface FireClaim {
  tick: number;
  taskId: string;
  catchUp: boolean;
  message: OutboxMessage;
}

export interface ClaimRequest {
  entry: string;
  /** The state the claim was planned from; null = the entry had no state. */
  expect: { lastTick: number; schedule: string } | null;
  /** The state after the claim. */
  schedule: string;
  lastTick: number;
  nextTick: number | null;
  /** Ticks to fire, oldest first; may be empty (a claim that only moves past missed ticks). */
  fires: readonly FireClaim[];
  /** Ticks passed over by this claim. */
  missed: number;
  /** Fires kept in this entry's history. */
  historyLimit: number;
  /** How long a fire's unique key outlives the claim (Redis; SQLite rows stay with the history). */
  claimTtlMs: number;
}

export type ClaimOutcome = { ok: true; claimedAt: number } | { ok: false; state: EntryState | null };

export interface CleanupRunRecord {
  /** The task that ran it: celery.backend_cleanup or ebb.cleanup. */
  task: string;
  taskId: string | null;
  /** Store clock. */
  startedAt: number;
  durationMs: number;
  tier: string | null;
  olderThanMs: number | null;
  dryRun: boolean;
  matched: number;
  removed: number;
  bytes: number;
  archived: number;
  archiveFile: string | null;
  /** Expiry-index entries trimmed (Redis). */
  trimmed: number;
  errors: string[];
}

export interface ScheduleStore {
  /** The store's clock, epoch ms: beat decides what is due by it, so beats on hosts with skewed clocks agree. */
  now(): Promise<number>;
  /** The states of these entries (absent ones are left out). */
  states(entries: readonly string[]): Promise<Map<string, EntryState>>;
  claim(request: ClaimRequest): Promise<ClaimOutcome>;
  /** Confirm a fire's message was sent (drops its outbox copy). False when there is no such unsent fire. */
  markSent(entry: string, tick: number): Promise<boolean>;
  /** Fires claimed in [claimedFrom, claimedTo] and not confirmed sent, oldest first, with their messages. */
  unsent(claimedFrom: number, claimedTo: number, limit: number): Promise<Array<FireRecord & { message: OutboxMessage }>>;
  /** An entry's fires, newest first. */
  history(entry: string, limit: number): Promise<FireRecord[]>;
  recordRun(run: CleanupRunRecord): Promise<void>;
  /** Cleanup runs, newest first. */
  runs(limit: number): Promise<CleanupRunRecord[]>;
  /**
   * Store a storage-history sample in its slot, floor(sample.at / slotMs), only if that slot is
   * still empty (atomic: of two beats sampling at once, one stores and the other gets false), and
   * drop samples older than sample.at - keepMs (bounded: HISTORY_TRIM_BATCH per call).
   */
  addSample(sample: StorageSample, options: SampleOptions): Promise<boolean>;
  /** The newest sample's at, or null when there is none. */
  latestSampleAt(): Promise<number | null>;
  /** Samples with at >= since, oldest first, at most limit. */
  samples(since: number, limit: number): Promise<StorageSample[]>;
}

/** A result store that can hold beat's state. */
export interface ScheduleStoreHost {
  scheduleStore(): ScheduleStore;
}

export function isScheduleStoreHost(value: unknown): value is ScheduleStoreHost {
  return typeof value === "object" && value !== null && typeof (value as ScheduleStoreHost).scheduleStore === "function";
}

/** A fire's record alone, without whatever else the object carries (its message, a store's own fields). */
export function fireRecordOf(f: FireRecord): FireRecord {
  return { entry: f.entry, tick: f.tick, taskId: f.taskId, catchUp: f.catchUp, claimedAt: f.claimedAt, sentAt: f.sentAt };
}

/** A message's own fields alone, so a store keeps exactly the outbox and nothing the caller added. */
export function outboxOf(m: OutboxMessage): OutboxMessage {
  return { raw: m.raw, queue: m.queue, priority: m.priority, availableAt: m.availableAt };
}

/** The slot a sample is stored under; throws RangeError on a slot width that is not a number > 0. */
export function sampleSlot(at: number, options: SampleOptions): number {
  if (!(Number.isFinite(options.slotMs) && options.slotMs > 0))
    throw new RangeError(`Expected slotMs to be a number > 0, got ${options.slotMs}`);
  if (!(Number.isFinite(options.keepMs) && options.keepMs >= 0))
    throw new RangeError(`Expected keepMs to be a number >= 0, got ${options.keepMs}`);
  return Math.floor(at / options.slotMs);
}

/** The publish key of one fire: the broker's publishOnce() dedupes a resend under it. */
export function fireKey(entry: string, tick: number): string {
  return `beat:${entry}:${tick}`;
}
