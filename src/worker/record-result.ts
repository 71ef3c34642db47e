import type { ExtendedFields, ResultBackend, StoreOutcome, StoreRequest } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import { parseDuration } from "../duration.js";
import type { Logger } from "../logger.js";
import type { TaskMessage } from "../protocol/task-message.js";
import { decideRetention } from "../retention/policy.js";
import type { StoredState } from "../states.js";
import type { TaskDefinition } from "../task.js";

/**
 * Decide whether a task's outcome is stored and for how long, then store it.
 * Ignore-result, most specific first: the call's explicit choice (Ebb header, or Celery's
 * ignore_result=true header), then the task's, then the app's. Failures (FAILURE, REVOKED) are
 * stored even when ignored unless storeErrorsEvenIfIgnored is false.
 *
 * The call itself (name, args, kwargs, worker, retries, queue) is stored only with
 * resultExtended (the task's, else the app's; default off), as Celery does with result_extended:
 * arguments may hold personal data, and results and their archives outlive the call.
 */
export interface Outcome {
  status: StoredState;
  result: unknown;
  traceback: string | null;
  /** Lifetime set inside the handler with currentTask().setResultExpires(). */
  dynamicMs?: number | null;
  error?: unknown;
}

export interface RecordDeps {
  backend: ResultBackend;
  config: ResolvedConfig;
  log: Logger;
  workerName: string;
}

export function isIgnored(msg: TaskMessage, def: TaskDefinition | undefined, config: ResolvedConfig): boolean {
  if (msg.ignoreResultOverride !== undefined) return msg.ignoreResultOverride;
  if (msg.ignoreResult) return true;
  return def?.ignoreResult ?? config.ignoreResult;
}

/** Returns null when the outcome is (rightly) not stored. */
export async function recordResult(
  deps: RecordDeps,
  msg: TaskMessage,
  def: TaskDefinition | undefined,
  outcome: Outcome,
): Promise<StoreOutcome | null> {
  const request = storeRequestFor(deps, msg, def, outcome);
  return request === null ? null : deps.backend.store(request);
}

/** What recordResult() stores for this outcome, or null when it is (rightly) not stored. */
export function storeRequestFor(
  deps: RecordDeps,
  msg: TaskMessage,
  def: TaskDefinition | undefined,
  outcome: Outcome,
): StoreRequest | null {
  const ignored = isIgnored(msg, def, deps.config);
  const isError = outcome.status === "FAILURE" || outcome.status === "REVOKED";
  const storeErrors = def?.storeErrorsEvenIfIgnored ?? deps.config.storeErrorsEvenIfIgnored;
  if (ignored && !(isError && storeErrors)) return null;
  const decision = decideRetention({
    dynamicMs: outcome.dynamicMs !== undefined ? outcome.dynamicMs : dynamicFromFunction(deps, msg, def, outcome),
    callMs: msg.resultExpiresMs,
    taskMs: def?.resultExpiresMs,
    tier: def?.tier,
    globalMs: deps.config.resultExpiresMs,
    tiers: deps.config.tiers,
  });
  return {
    taskId: msg.id,
    status: outcome.status,
    result: outcome.result,
    traceback: outcome.traceback,
    children: [],
    lifetimeMs: decision.lifetimeMs,
    tier: decision.tier,
    action: decision.action,
    ...((def?.resultExtended ?? deps.config.resultExtended) ? extendedFields(msg, deps.workerName) : {}),
  };
}

function extendedFields(msg: TaskMessage, workerName: string): ExtendedFields {
  return { name: msg.task, args: msg.args, kwargs: msg.kwargs, worker: workerName, retries: msg.retries, queue: msg.queue };
}

/** Pattern 3 from outside: resultExpires as a function of the result. A throwing function falls through to the next rule. */
function dynamicFromFunction(
  deps: RecordDeps,
  msg: TaskMessage,
  def: TaskDefinition | undefined,
  outcome: Outcome,
): number | null | undefined {
  if (!def?.resultExpiresFn || outcome.status !== "SUCCESS") return undefined;
  try {
    const value = def.resultExpiresFn(outcome.result, { taskId: msg.id });
    return parseDuration(value, { option: `resultExpires() of task "${msg.task}"` });
  } catch (e) {
    deps.log.error(
      `resultExpires() of task "${msg.task}" failed for ${msg.id}: ${(e as Error).message}; using the next rule (call, task, tier, global)`,
    );
    return undefined;
  }
}
