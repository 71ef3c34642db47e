import type { ResultRecord, RetentionStore, StoreFacts } from "../backends/retention-store.js";
import { STATES, type StoredState } from "../states.js";

export interface StatsOptions {
  /** The app's expiredGrace: results expired longer ago than this are counted in expiredOverGrace. */
  graceMs?: number;
  /** Results read per batch. Default 1000. */
  batchSize?: number;
}

/** What `ebb stats --json` prints. Instants are ISO strings (UTC). */
export interface StatsReport {
  total: number;
  /** Every stored state, 0 when there are none, so scripts can read any key. */
  byState: Record<StoredState, number>;
  /** By tier name, "none" for results without a tier. */
  byTier: Record<string, number>;
  /** Bytes the store spends on result values (see each store's ResultRecord.bytes). */
  bytes: number;
  /** Expired and not yet cleaned, holds excluded: cleanup's backlog. */
  expiredPending: number;
  /**
   * Of expiredPending, those expired longer ago than the grace window: cleanup has not run for
   * that long (or cannot, e.g. archive-tier results never archived). null without graceMs.
   */
  expiredOverGrace: number | null;
  /** Results under a legal hold. */
  held: number;
  /** Results that never expire (expiresAt null). */
  permanent: number;
  oldestDateDone: string | null;
  /** The earliest expiry still to come (held results excluded: they do not expire). */
  nextExpiry: string | null;
  /** The store's own numbers (file size, used_memory, ...). */
  store: StoreFacts;
}

/**
 * Counts and sizes from one streaming scan: memory stays bounded however many results there
 * are. Expiry is judged by the store's clock, read once, so every count uses the same instant.
 */
export async function stats(store: RetentionStore, options: StatsOptions = {}): Promise<StatsReport> {
  const now = await store.now();
  const byState = Object.fromEntries(STATES.filter((s) => s !== "EXPIRED").map((s) => [s, 0])) as Record<StoredState, number>;
  const acc = { total: 0, bytes: 0, expiredPending: 0, overGrace: 0, held: 0, permanent: 0, oldestDone: Infinity, nextExpiry: Infinity };
  const byTier: Record<string, number> = {};
  const graceCutoff = options.graceMs === undefined ? null : now - options.graceMs;
  const count = (r: ResultRecord) => {
    acc.total += 1;
    acc.bytes += r.bytes;
    byState[r.status] = (byState[r.status] ?? 0) + 1;
    const tier = r.tier ?? "none";
    byTier[tier] = (byTier[tier] ?? 0) + 1;
    if (r.held) acc.held += 1;
    if (r.expiresAt === null) acc.permanent += 1;
    if (r.dateDone !== null) acc.oldestDone = Math.min(acc.oldestDone, r.dateDone);
    if (r.held || r.expiresAt === null) return;
    if (r.expiresAt <= now) {
      acc.expiredPending += 1;
      if (graceCutoff !== null && r.expiresAt < graceCutoff) acc.overGrace += 1;
    } else {
      acc.nextExpiry = Math.min(acc.nextExpiry, r.expiresAt);
    }
  };
  for await (const batch of store.scan({ batchSize: options.batchSize ?? 1000, includeHeld: true })) {
    for (const r of batch) count(r);
    // Other work in this process (a dashboard, live traffic) runs between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return {
    total: acc.total,
    byState,
    byTier,
    bytes: acc.bytes,
    expiredPending: acc.expiredPending,
    expiredOverGrace: graceCutoff === null ? null : acc.overGrace,
    held: acc.held,
    permanent: acc.permanent,
    oldestDateDone: iso(acc.oldestDone),
    nextExpiry: iso(acc.nextExpiry),
    store: await store.storeFacts(),
  };
}

function iso(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
