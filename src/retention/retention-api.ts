import type { ResultBackend } from "../backends/result-backend.js";
import { retentionStoreOf, type RetentionBackend } from "../backends/retention-store.js";
import { check, type CheckLimits, type CheckReport } from "../monitor/check.js";
import { stats, type StatsOptions, type StatsReport } from "../monitor/stats.js";
import { cleanup, type CleanupOptions, type CleanupReport } from "./cleanup.js";
import { explainPolicy, type ExplainApp, type PolicyExplanation } from "./explain.js";

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
): RetentionApi {
  const store = async () => retentionStoreOf(await backend(), "cleanup, archive, stats, hold");
  const statsOf = async (options: StatsOptions = {}) => stats(await store(), { graceMs: app.config.expiredGraceMs, ...options });
  return {
    cleanup: async (options = {}) => cleanup(await store(), options),
    stats: statsOf,
    check: async (limits) => check(await statsOf(), limits),
    hold: async (taskId) => (await store()).setHeld(taskId, true),
    release: async (taskId) => (await store()).setHeld(taskId, false),
    explain: (taskName) => explainPolicy(taskName, app),
    store,
  };
}
