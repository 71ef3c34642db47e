import type { ResultRecord, ScanQuery } from "./retention-store.js";

/**
 * Whether a record falls in a scan's query, for stores that filter as they read (memory, or
 * any store whose index cannot express the whole query). SQL stores say the same in WHERE.
 */
export function matchesScan(r: ResultRecord, q: ScanQuery): boolean {
  if (q.expiresBy !== undefined && (r.expiresAt === null || r.expiresAt > q.expiresBy)) return false;
  if (q.doneBy !== undefined && (r.dateDone === null || r.dateDone > q.doneBy)) return false;
  if (q.tier !== undefined && r.tier !== q.tier) return false;
  return q.includeHeld === true || !r.held;
}
