import type { ResultRecord, RetentionStore, ScanQuery } from "../backends/retention-store.js";
import { cleanupVerdict, type CleanupRules, type CleanupVerdict } from "./cleanup-rules.js";
import { removalReason, reportRemoved, safely, type RetentionObserver } from "./retention-observer.js";

export interface CleanupOptions {
  /** Also remove results done at least this long ago that are allowed to expire (--older-than / --days). */
  olderThanMs?: number;
  /** Only this tier; null = results with no tier. */
  tier?: string | null;
  /** With olderThanMs, also remove old results that never expire. */
  includePermanent?: boolean;
  /** Report what would be removed; change nothing. */
  dryRun?: boolean;
  /** Results read and removed per batch. Default 500. */
  batchSize?: number;
  onProgress?: (p: CleanupProgress) => void;
  /** Stops between batches; a batch already being removed completes (each is atomic). Rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told what each batch removed and why (metrics); optional. */
  observer?: RetentionObserver;
}

export interface CleanupProgress {
  scanned: number;
  matched: number;
  deleted: number;
}

export interface TierCounts {
  matched: number;
  deleted: number;
  bytes: number;
}

/** Why results were kept: the verdicts, plus "keep:changed" for results that changed or became held between scan and remove. */
export type KeptReason = Exclude<CleanupVerdict, "remove"> | "keep:changed";

export interface CleanupReport {
  /** Results the rules say to remove. */
  matched: number;
  /** Results removed (0 on a dry run). */
  deleted: number;
  /** Bytes freed; on a dry run, the bytes a real run would free. */
  bytes: number;
  /** By tier name, "none" for results without a tier. */
  byTier: Record<string, TierCounts>;
  dryRun: boolean;
  kept: Record<KeptReason, number>;
}

const DEFAULT_BATCH = 500;

/**
 * Remove what the retention rules say may go, in bounded batches. Verdicts come from
 * cleanupVerdict() alone, so a dry run reports exactly what a real run removes. The store
 * re-checks each result when it removes it, so a result that changed or became held after the
 * scan is kept, never lost. Between batches the loop yields to the event loop, so a process
 * that also serves traffic keeps its latency. A store that declares bulkExpiry first drops what
 * has expired in one operation (dropExpired), and the scans judge the rest.
 */
export async function cleanup(store: RetentionStore, options: CleanupOptions = {}): Promise<CleanupReport> {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH));
  const dryRun = options.dryRun === true;
  const rules: CleanupRules = {
    now: await store.now(),
    olderThanMs: options.olderThanMs,
    tier: options.tier,
    includePermanent: options.includePermanent,
  };
  const report: CleanupReport = { matched: 0, deleted: 0, bytes: 0, byTier: {}, dryRun, kept: emptyKept() };
  const progress: CleanupProgress = { scanned: 0, matched: 0, deleted: 0 };
  let pending: ResultRecord[] = [];

  // A store that expires in bulk (a partition per time range) drops what has expired at once;
  // the scans below then judge what it left (held, archive-pending, other stores' kinds). Only
  // for every tier (a partition holds them all), and not on a dry run, whose scan counts them.
  if (store.retentionCapabilities.bulkExpiry && options.tier === undefined && !dryRun)
    await dropInBulk(store, rules.now, report, options.observer);

  const flush = async (all: boolean) => {
    while (pending.length >= batchSize || (all && pending.length > 0)) {
      const batch = pending.slice(0, batchSize);
      pending = pending.slice(batchSize);
      const outcome = await store.remove(batch, { remember: true });
      const removed = new Set(outcome.removed);
      for (const r of batch) {
        if (!removed.has(r.taskId)) continue;
        const t = tierOf(report, r);
        t.deleted += 1;
        t.bytes += r.bytes;
      }
      reportRemoved(options.observer, batch, outcome.removed, rules.now, (r) => removalReason(r, rules.now));
      report.deleted += outcome.removed.length;
      report.bytes += outcome.bytes;
      report.kept["keep:changed"] += outcome.kept.length;
      progress.deleted = report.deleted;
      await nextTick(options.signal);
    }
  };

  for (const [query, seenBefore] of passes(rules, batchSize)) {
    for await (const batch of store.scan(query)) {
      for (const r of batch) {
        if (seenBefore(r)) continue;
        progress.scanned += 1;
        const verdict = cleanupVerdict(r, rules);
        if (verdict !== "remove") {
          report.kept[verdict] += 1;
          continue;
        }
        report.matched += 1;
        const t = tierOf(report, r);
        t.matched += 1;
        if (dryRun) {
          t.bytes += r.bytes;
          report.bytes += r.bytes;
        } else {
          pending.push(r);
        }
      }
      progress.matched = report.matched;
      if (!dryRun) await flush(false);
      options.onProgress?.({ ...progress });
      await nextTick(options.signal);
    }
  }
  if (!dryRun) await flush(true);
  options.onProgress?.({ ...progress });
  return report;
}

/**
 * The scans that together see every candidate once. Expired results come from the expiry
 * index; with olderThanMs, a second scan by date_done picks up old results that have not
 * expired (those that have were in the first scan, so it skips them).
 */
function passes(rules: CleanupRules, batchSize: number): Array<[ScanQuery, (r: ResultRecord) => boolean]> {
  // Held results are scanned too, so the report can say how many were kept by a hold.
  const base: ScanQuery = { batchSize, includeHeld: true, ...(rules.tier !== undefined ? { tier: rules.tier } : {}) };
  const list: Array<[ScanQuery, (r: ResultRecord) => boolean]> = [[{ ...base, expiresBy: rules.now }, () => false]];
  if (rules.olderThanMs !== undefined) {
    list.push([{ ...base, doneBy: rules.now - rules.olderThanMs }, (r) => r.expiresAt !== null && r.expiresAt <= rules.now]);
  }
  return list;
}

async function dropInBulk(store: RetentionStore, before: number, report: CleanupReport, observer?: RetentionObserver): Promise<void> {
  if (typeof store.dropExpired !== "function")
    throw new TypeError("The store declares bulkExpiry but has no dropExpired(before); implement it or declare bulkExpiry: false");
  const dropped = await store.dropExpired(before);
  if (dropped.removed > 0) safely(() => observer?.droppedExpired?.(dropped.removed, dropped.bytes, before));
  report.matched += dropped.removed;
  report.deleted += dropped.removed;
  report.bytes += dropped.bytes;
  for (const [tier, n] of Object.entries(dropped.byTier ?? {})) {
    const t = report.byTier[tier] ?? { matched: 0, deleted: 0, bytes: 0 };
    report.byTier[tier] = t;
    t.matched += n.removed;
    t.deleted += n.removed;
    t.bytes += n.bytes;
  }
}

function tierOf(report: CleanupReport, r: ResultRecord): TierCounts {
  const name = r.tier ?? "none";
  const counts = report.byTier[name] ?? { matched: 0, deleted: 0, bytes: 0 };
  report.byTier[name] = counts;
  return counts;
}

function emptyKept(): Record<KeptReason, number> {
  return { "keep:held": 0, "keep:unexpired": 0, "keep:permanent": 0, "keep:needs-archive": 0, "keep:other-tier": 0, "keep:changed": 0 };
}

/** Let other work run (live traffic in the same process), then stop if asked to. */
async function nextTick(signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}
