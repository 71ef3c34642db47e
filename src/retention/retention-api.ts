import type { ResultBackend } from "../backends/result-backend.js";
import { retentionStoreOf, type RetentionBackend } from "../backends/retention-store.js";
import { check, type CheckLimits, type CheckReport } from "../monitor/check.js";
import { stats, type StatsOptions, type StatsReport } from "../monitor/stats.js";
import { cleanup, type CleanupOptions, type CleanupReport } from "./cleanup.js";
import { explainPolicy, type ExplainApp, type PolicyExplanation } from "./explain.js";
import { fanOut, safely, type RetentionObserver } from "./retention-observer.js";

/**
 * The retention operations as an API, for people who schedule them their own way:
 * `await app.retention.cleanup({ dryRun: true })`. The CLI commands do the same through it.
 */
export interface RetentionApi {
  cleanup(options?: CleanupOptions): Promise<CleanupReport>;
  stats(options?: StatsOptions): Promise<StatsReport>;
  check(limits: CheckLimits): Promise<CheckReport>;
  /** Put a legal hold on a result: it is never expired, cleaned or archived away. False when there is no such result. */
  hold(taskId: string): Promise<boolean>;
  release(taskId: string): Promise<boolean>;
  explain(taskName: string): PolicyExplanation;
  /** The result store, checked to support retention operations. */
  store(): Promise<RetentionBackend>;
}

export function retentionApi(
  backend: () => Promise<ResultBackend>,
  app: ExplainApp & { config: { expiredGraceMs: number } },
  observer?: RetentionObserver,
): RetentionApi {
  const store = async () => retentionStoreOf(await backend(), "cleanup, archive, stats, hold");
  const statsOf = async (options: StatsOptions = {}) => stats(await store(), { graceMs: app.config.expiredGraceMs, ...options });
  return {
    cleanup: async (options = {}) => observed(await store(), options, observer),
    stats: statsOf,
    check: async (limits) => check(await statsOf(), limits),
    hold: async (taskId) => (await store()).setHeld(taskId, true),
    release: async (taskId) => (await store()).setHeld(taskId, false),
    explain: (taskName) => explainPolicy(taskName, app),
    store,
  };
}

/** cleanup(), telling `observer` (metrics) what it removed and when it ended; the caller's own observer is told too. */
async function observed(store: RetentionBackend, options: CleanupOptions, observer: RetentionObserver | undefined): Promise<CleanupReport> {
  if (!observer) return cleanup(store, options);
  const own = options.observer;
  const both: RetentionObserver = own ? fanOut(() => [observer, own]) : observer;
  const started = performance.now();
  const dryRun = options.dryRun === true;
  let ok = false;
  try {
    const report = await cleanup(store, { ...options, observer: both });
    ok = true;
    return report;
  } finally {
    const durationMs = performance.now() - started;
    const at = await store.now().catch(() => Date.now());
    safely(() => both.cleanupFinished?.({ durationMs, ok, at, dryRun }));
  }
}
