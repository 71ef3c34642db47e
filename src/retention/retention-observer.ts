import type { ResultRecord } from "../backends/retention-store.js";

/**
 * Why a result left the store, as the `ebb_results_removed_total{reason}` metric counts it:
 *   expired             cleanup of a result whose lifetime had passed
 *   manual              cleanup --older-than of a result that had not expired yet
 *   archived            removed by archive --delete (or backend_cleanup's archive step)
 *   included_permanent  cleanup --include-permanent of a result that never expires
 */
export type RemovalReason = "expired" | "manual" | "archived" | "included_permanent";

export const REMOVAL_REASONS: readonly RemovalReason[] = ["expired", "manual", "archived", "included_permanent"];

/** What an observer learns of a removed result. */
export type RemovedResult = Pick<ResultRecord, "tier" | "status" | "bytes" | "dateDone" | "expiresAt" | "held">;

/** One finished cleanup run (cleanup, or a built-in cleanup task's archive + cleanup). */
export interface CleanupRun {
  durationMs: number;
  /** False when it failed part-way. */
  ok: boolean;
  /** When it ended, epoch ms. */
  at: number;
  dryRun: boolean;
}

/**
 * Told what retention operations remove, for metrics. Optional everywhere: retention code works
 * the same without one. Called after each batch the store confirmed removed; a method that throws
 * is ignored (an observer never changes what cleanup does).
 */
export interface RetentionObserver {
  /** Results the store removed, all for one reason; `now` is the operation's instant (store clock). */
  removed?(reason: RemovalReason, results: readonly RemovedResult[], now: number): void;
  /** Expired results dropped at once (a store with bulkExpiry): counts and bytes by tier, no per-result detail. */
  droppedExpired?(count: number, bytes: number, now: number): void;
  cleanupFinished?(run: CleanupRun): void;
}

/** Why cleanup removes this result (its verdict was "remove"), judged at `now`. */
export function removalReason(r: Pick<ResultRecord, "expiresAt">, now: number): RemovalReason {
  if (r.expiresAt === null) return "included_permanent";
  return r.expiresAt <= now ? "expired" : "manual";
}

/** Tell `observer` about the records of `batch` whose ids were removed, grouped by reason. */
export function reportRemoved(
  observer: RetentionObserver | undefined,
  batch: readonly ResultRecord[],
  removedIds: readonly string[],
  now: number,
  reasonOf: (r: ResultRecord) => RemovalReason,
): void {
  if (!observer?.removed || removedIds.length === 0) return;
  const removed = new Set(removedIds);
  const by = new Map<RemovalReason, RemovedResult[]>();
  for (const r of batch) {
    if (!removed.has(r.taskId)) continue;
    const reason = reasonOf(r);
    const list = by.get(reason);
    if (list) list.push(r);
    else by.set(reason, [r]);
  }
  for (const [reason, list] of by) safely(() => observer.removed?.(reason, list, now));
}

/** Call an observer; what it throws is not the operation's failure. */
export function safely(call: () => void): void {
  try {
    call();
  } catch {
    // An observer (metrics) must never change what a retention operation does.
  }
}

/** One observer that tells several (null entries skipped). */
export function fanOut(observers: () => Iterable<RetentionObserver>): RetentionObserver {
  return {
    removed(reason, results, now) {
      for (const o of observers()) safely(() => o.removed?.(reason, results, now));
    },
    droppedExpired(count, bytes, now) {
      for (const o of observers()) safely(() => o.droppedExpired?.(count, bytes, now));
    },
    cleanupFinished(run) {
      for (const o of observers()) safely(() => o.cleanupFinished?.(run));
    },
  };
}
