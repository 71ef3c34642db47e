import type { ResultRecord, ScanQuery } from "../backends/retention-store.js";
import type { RetentionAction } from "../backends/result-backend.js";
import { toCeleryAware } from "../protocol/timestamps.js";

/**
 * Which results an archive run takes. Pure, shared by the real run and --dry-run so that what
 * a dry run counts is what a real run archives. A result is taken when it is
 *  - done at or before the cutoff (now - olderThan): results without a dateDone never are;
 *  - allowed to expire (expiresAt !== null): permanent results are never archived away;
 *  - not held, and not already in a complete archive (no id in two archives);
 *  - of the tier / action asked for, and expired by `expiresBy` when given (backend_cleanup).
 */
export interface Selection {
  cutoff: number;
  /** Only this tier; null = results without a tier. */
  tier?: string | null;
  action?: RetentionAction;
  /** Only results whose expiresAt <= this. */
  expiresBy?: number;
}

export function selects(r: ResultRecord, s: Selection): boolean {
  if (r.held || r.archived) return false;
  if (r.dateDone === null || r.dateDone > s.cutoff) return false;
  if (r.expiresAt === null) return false;
  if (s.expiresBy !== undefined && r.expiresAt > s.expiresBy) return false;
  if (s.tier !== undefined && r.tier !== s.tier) return false;
  if (s.action !== undefined && r.action !== s.action) return false;
  return true;
}

export function scanQuery(s: Selection, batchSize: number): ScanQuery {
  const q: ScanQuery = { batchSize, doneBy: s.cutoff, includeHeld: false };
  if (s.tier !== undefined) q.tier = s.tier;
  if (s.expiresBy !== undefined) q.expiresBy = s.expiresBy;
  return q;
}

/** How the manifest records the selection: the flags and the instants they gave. */
export function describeSelection(s: Selection, extra: { olderThanMs: number; delete: boolean }): Record<string, unknown> {
  return {
    olderThanMs: extra.olderThanMs,
    dateDoneBy: toCeleryAware(s.cutoff),
    ...(s.tier !== undefined ? { tier: s.tier } : {}),
    ...(s.action !== undefined ? { action: s.action } : {}),
    ...(s.expiresBy !== undefined ? { expiresBy: toCeleryAware(s.expiresBy) } : {}),
    delete: extra.delete,
  };
}
