import type { RetentionAction } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import { formatDuration } from "../duration.js";
import type { TaskDefinition } from "../task.js";
import { decideRetention, type RetentionDecision } from "./policy.js";

/** Where a task's result lifetime comes from. "dynamic-function": the task's resultExpires is a function of each result. */
export type ExplainSource = "task" | "tier" | "global" | "dynamic-function";

/**
 * What happens to a result once its lifetime is over: "delete", "archive" (archived, then
 * deleted), or "none" for a result that never expires (cleanup and archive never take it).
 */
export type ExplainedAction = RetentionAction | "none";

/** What `ebb policy explain TASK --json` prints. */
export interface PolicyExplanation {
  task: string;
  tier: string | null;
  /** "24h", "never", or "dynamic" when a function decides per result (see fallback). */
  expires: string;
  /** The lifetime in ms (null = never); for "dynamic", the fallback's. */
  expiresMs: number | null;
  action: ExplainedAction;
  source: ExplainSource;
  /** Only for "dynamic-function": what failures, and results whose function throws, get instead. */
  fallback?: { expires: string; expiresMs: number | null; source: "tier" | "global" };
  /**
   * Only when the task ignores its results (ignoreResult, its own or the app's): "failures" = only
   * FAILURE and REVOKED results are stored (storeErrorsEvenIfIgnored), and expires/action are
   * theirs; "nothing" = no result is stored at all. A call's ignoreResult: false still stores one.
   */
  stores?: "failures" | "nothing";
  /** One or two sentences a person can act on. */
  reason: string;
}

/** What explaining needs from an app: its tasks and its resolved config (no import of app.ts, which uses this). */
export interface ExplainApp {
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  readonly config: Pick<ResolvedConfig, "tiers" | "resultExpiresMs"> &
    Partial<Pick<ResolvedConfig, "ignoreResult" | "storeErrorsEvenIfIgnored">>;
}

const OVERRIDES =
  "A call's resultExpires (ebb call --result-expires) or currentTask().setResultExpires() inside the handler still overrides it for one result.";

/**
 * Which rule gives a task's results their lifetime, and why, from the same decideRetention()
 * the worker uses, and what cleanup really does with them then. Per-call and in-handler
 * settings are not known ahead of time: the reason says they can still override.
 */
export function explainPolicy(taskName: string, app: ExplainApp): PolicyExplanation {
  const { tiers, resultExpiresMs } = app.config;
  const def = app.tasks.get(taskName);
  const globalText = formatDuration(resultExpiresMs);
  if (!def) {
    const d = decideRetention({ globalMs: resultExpiresMs, tiers });
    return shape(
      taskName,
      d,
      "global",
      `"${taskName}" is not a task registered in this app, so its results get the global default resultExpires (${globalText}): kept ${fate(d)}; give -A MODULE to explain a task of your app.`,
    );
  }
  const tier = def.tier;
  const fixed = decideRetention({ taskMs: def.resultExpiresMs, tier, globalMs: resultExpiresMs, tiers });
  const ignored = ignoresResults(def, app.config);
  if (ignored) return ignoring(taskName, fixed, ignored);
  const keeps = fate(fixed);
  const tierText = tier === undefined ? "" : ` (tier "${tier}": ${formatDuration(tiers[tier]!.expiresMs)}, ${tiers[tier]!.action})`;
  if (def.resultExpiresFn) {
    const then = fixed.action === "archive" ? "then archived before they are deleted" : "then deleted";
    const fallback = { expires: formatDuration(fixed.lifetimeMs), expiresMs: fixed.lifetimeMs, source: fixed.source as "tier" | "global" };
    const from = fixed.source === "tier" ? `its tier "${tier}"` : "the global default";
    return {
      ...shape(
        taskName,
        fixed,
        "dynamic-function",
        `"${taskName}" has a resultExpires function: each successful result lives as long as the function returns for it, ${then}. Failures, and results whose function throws, get ${from}: ${fallback.expires}.`,
      ),
      // The function may give a lifetime even when the fallback is "never": the tier's action then applies.
      action: fixed.action,
      expires: "dynamic",
      fallback,
    };
  }
  if (fixed.source === "task") {
    return shape(
      taskName,
      fixed,
      "task",
      `"${taskName}" sets its own resultExpires, which overrides its tier${tierText} and the global default (${globalText}): results are kept ${keeps}. ${OVERRIDES}`,
    );
  }
  if (fixed.source === "tier") {
    return shape(
      taskName,
      fixed,
      "tier",
      `"${taskName}" is in tier "${tier}" and sets no resultExpires of its own, so results are kept ${keeps}. ${OVERRIDES}`,
    );
  }
  return shape(
    taskName,
    fixed,
    "global",
    `"${taskName}" sets no resultExpires and no tier, so its results get the global default resultExpires: kept ${keeps}. ${OVERRIDES}`,
  );
}

/** How ignoring applies to this task (as the worker decides it, without a call's override), or null when results are stored. */
function ignoresResults(def: TaskDefinition, config: ExplainApp["config"]): "failures" | "nothing" | null {
  if (!(def.ignoreResult ?? config.ignoreResult ?? false)) return null;
  return (def.storeErrorsEvenIfIgnored ?? config.storeErrorsEvenIfIgnored ?? true) ? "failures" : "nothing";
}

function ignoring(task: string, d: RetentionDecision, stores: "failures" | "nothing"): PolicyExplanation {
  const who = `"${task}" ignores its results (ignoreResult)`;
  const call = `A call with ignoreResult: false stores its result, which is then kept ${fate(d)}.`;
  const reason =
    stores === "failures"
      ? `${who}: a successful result is not stored at all, so nothing expires or is cleaned. Failures (and REVOKED for an expired message) are still stored (storeErrorsEvenIfIgnored) and kept ${fate(d)}. ${call}`
      : `${who} and storeErrorsEvenIfIgnored is false: nothing is stored, not even failures, so nothing expires or is cleaned. ${call}`;
  return { ...shape(task, d, d.source === "tier" ? "tier" : d.source === "task" ? "task" : "global", reason), stores };
}

/**
 * What cleanup really does with a result of this decision, as "kept ...". A result that never
 * expires is never removed by cleanup nor taken by archive (which takes only results that may
 * expire); with --include-permanent cleanup removes an old one only if its action is "delete",
 * since an archive-tier result goes only once archived.
 */
function fate(d: RetentionDecision): string {
  if (d.lifetimeMs !== null)
    return `${formatDuration(d.lifetimeMs)}, ${d.action === "archive" ? "then archived before they are deleted" : "then deleted"}`;
  if (d.action === "archive") {
    return `forever: they never expire, archive never takes them, and cleanup never removes them, not even with --include-permanent (an archive-tier result is removed only once archived)`;
  }
  return `forever: they never expire; only ebb cleanup --include-permanent with --older-than removes them`;
}

function shape(task: string, d: RetentionDecision, source: ExplainSource, reason: string): PolicyExplanation {
  return {
    task,
    tier: d.tier,
    expires: formatDuration(d.lifetimeMs),
    expiresMs: d.lifetimeMs,
    action: d.lifetimeMs === null ? "none" : d.action,
    source,
    reason,
  };
}
