import type { RetentionAction } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import { formatDuration } from "../duration.js";
import type { TaskDefinition } from "../task.js";
import { decideRetention, type RetentionDecision } from "./policy.js";

/** Where a task's result lifetime comes from. "dynamic-function": the task's resultExpires is a function of each result. */
export type ExplainSource = "task" | "tier" | "global" | "dynamic-function";

/** What `ebb policy explain TASK --json` prints. */
export interface PolicyExplanation {
  task: string;
  tier: string | null;
  /** "24h", "never", or "dynamic" when a function decides per result (see fallback). */
  expires: string;
  /** The lifetime in ms (null = never); for "dynamic", the fallback's. */
  expiresMs: number | null;
  action: RetentionAction;
  source: ExplainSource;
  /** Only for "dynamic-function": what failures, and results whose function throws, get instead. */
  fallback?: { expires: string; expiresMs: number | null; source: "tier" | "global" };
  /** One or two sentences a person can act on. */
  reason: string;
}

/** The app surface explainPolicy reads: its tasks and resolved config. */
/** What explaining needs from an app: its tasks and its resolved config (no import of app.ts, which uses this). */
export interface ExplainApp {
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  readonly config: Pick<ResolvedConfig, "tiers" | "resultExpiresMs">;
}

const OVERRIDES = "A call's resultExpires (ebb call --result-expires) or currentTask().setResultExpires() inside the handler still overrides it for one result.";

/**
 * Which rule gives a task's results their lifetime, and why, from the same decideRetention()
 * the worker uses. Per-call and in-handler settings are not known ahead of time: the reason
 * says they can still override.
 */
export function explainPolicy(taskName: string, app: ExplainApp): PolicyExplanation {
  const { tiers, resultExpiresMs } = app.config;
  const def = app.tasks.get(taskName);
  const globalText = formatDuration(resultExpiresMs);
  if (!def) {
    const d = decideRetention({ globalMs: resultExpiresMs, tiers });
    return shape(taskName, d, "global", `"${taskName}" is not a task registered in this app, so its results get the global default resultExpires (${globalText}); give -A MODULE to explain a task of your app.`);
  }
  const tier = def.tier;
  const fixed = decideRetention({ taskMs: def.resultExpiresMs, tier, globalMs: resultExpiresMs, tiers });
  const then = fixed.action === "archive" ? "then archived before they are deleted" : "then deleted";
  const keeps = fixed.lifetimeMs === null ? "forever: they never expire" : `${formatDuration(fixed.lifetimeMs)}, ${then}`;
  const tierText = tier === undefined ? "" : ` (tier "${tier}": ${formatDuration(tiers[tier]!.expiresMs)}, ${tiers[tier]!.action})`;
  if (def.resultExpiresFn) {
    const fallback = { expires: formatDuration(fixed.lifetimeMs), expiresMs: fixed.lifetimeMs, source: fixed.source as "tier" | "global" };
    const from = fixed.source === "tier" ? `its tier "${tier}"` : "the global default";
    return {
      ...shape(taskName, fixed, "dynamic-function", `"${taskName}" has a resultExpires function: each successful result lives as long as the function returns for it, ${then}. Failures, and results whose function throws, get ${from}: ${fallback.expires}.`),
      expires: "dynamic",
      fallback,
    };
  }
  if (fixed.source === "task") {
    return shape(taskName, fixed, "task", `"${taskName}" sets its own resultExpires, which overrides its tier${tierText} and the global default (${globalText}): results are kept ${keeps}. ${OVERRIDES}`);
  }
  if (fixed.source === "tier") {
    return shape(taskName, fixed, "tier", `"${taskName}" is in tier "${tier}" and sets no resultExpires of its own, so results are kept ${keeps}. ${OVERRIDES}`);
  }
  return shape(taskName, fixed, "global", `"${taskName}" sets no resultExpires and no tier, so its results get the global default resultExpires: kept ${keeps}. ${OVERRIDES}`);
}

function shape(task: string, d: RetentionDecision, source: ExplainSource, reason: string): PolicyExplanation {
  return { task, tier: d.tier, expires: formatDuration(d.lifetimeMs), expiresMs: d.lifetimeMs, action: d.action, source, reason };
}
