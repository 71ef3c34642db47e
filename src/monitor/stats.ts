import type { RetentionStore, StoreFacts } from "../backends/retention-store.js";
import { STATES, type StoredState } from "../states.js";
import { byState as censusByState, byTier as censusByTier, census } from "./census.js";

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
  /** Bytes by tier name (as byTier counts results). */
  bytesByTier: Record<string, number>;
  /** Results (not held) expiring within 1 h, 24 h and 7 d. */
  expiring: { hour: number; day: number; week: number };
}

/**
 * Counts and sizes from one census (census.ts: the store's own aggregate where it has one, else
 * one streaming scan, memory bounded however many results there are). Expiry is judged by the
 * store's clock, read once, so every count uses the same instant.
 */
export async function stats(store: RetentionStore, options: StatsOptions = {}): Promise<StatsReport> {
  const now = await store.now();
  const c = await census(store, {
    ...(options.graceMs === undefined ? {} : { graceCutoff: now - options.graceMs }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  const byState = Object.fromEntries(STATES.filter((s) => s !== "EXPIRED").map((s) => [s, 0])) as Record<StoredState, number>;
  for (const [state, { count }] of Object.entries(censusByState(c))) byState[state as StoredState] = count;
  const tiers = Object.entries(censusByTier(c));
  return {
    total: c.total,
    byState,
    byTier: Object.fromEntries(tiers.map(([tier, { count }]) => [tier, count])),
    bytes: c.bytes,
    expiredPending: c.expiredPending,
    expiredOverGrace: c.expiredBeforeCutoff,
    held: c.held,
    permanent: c.permanent,
    oldestDateDone: iso(c.oldestDateDone),
    nextExpiry: iso(c.nextExpiry),
    store: await store.storeFacts(),
    bytesByTier: Object.fromEntries(tiers.map(([tier, { bytes }]) => [tier, bytes])),
    expiring: { ...c.expiring },
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
