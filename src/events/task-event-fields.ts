import { pythonExceptionRepr, pythonRepr } from "../protocol/python-repr.js";
import type { TaskMessage } from "../protocol/task-message.js";
import { toCeleryAware } from "../protocol/timestamps.js";

/**
 * The fields of each task event, as a Celery 5.2 worker sends them (celery/worker/strategy.py,
 * request.py, app/trace.py). Values are what Celery puts there: reprs, not the values
 * themselves (a monitor shows them; the result backend has the real ones).
 */

/** task-received: who the task is and when it may run. */
export function receivedFields(m: TaskMessage): Record<string, unknown> {
  return {
    uuid: m.id,
    name: m.task,
    // Celery sends the message's argsrepr/kwargsrepr headers (the sender's repr).
    args: typeof m.headers.argsrepr === "string" ? m.headers.argsrepr : pythonRepr(m.args),
    kwargs: typeof m.headers.kwargsrepr === "string" ? m.headers.kwargsrepr : pythonRepr(m.kwargs),
    root_id: m.rootId,
    parent_id: m.parentId,
    retries: m.retries,
    eta: m.eta === null ? null : toCeleryAware(m.eta),
    expires: m.expires === null ? null : toCeleryAware(m.expires),
  };
}

/** task-started: the id alone (the sender's pid is in every event). */
export function startedFields(m: TaskMessage): Record<string, unknown> {
  return { uuid: m.id };
}

/** task-succeeded: repr of the result, runtime in seconds. */
export function succeededFields(m: TaskMessage, result: unknown, runtimeMs: number): Record<string, unknown> {
  return { uuid: m.id, result: pythonRepr(result), runtime: runtimeMs / 1000 };
}

/** task-failed: repr of the exception and its traceback text. */
export function failedFields(m: TaskMessage, error: unknown, traceback: string | null): Record<string, unknown> {
  return { uuid: m.id, exception: pythonExceptionRepr(error), traceback: traceback ?? "" };
}

/** task-retried: repr of the exception that caused the retry, and its traceback text. */
export function retriedFields(m: TaskMessage, error: unknown, traceback: string | null): Record<string, unknown> {
  return { uuid: m.id, exception: pythonExceptionRepr(error), traceback: traceback ?? "" };
}

/** SIGTERM's number: what Celery reports for a task terminated with the default signal. */
export const SIGTERM = 15;

/** task-revoked: whether it was stopped while running (and by which signal) or had expired. */
export function revokedFields(
  m: TaskMessage,
  info: { terminated: boolean; expired: boolean; signum?: number | null },
): Record<string, unknown> {
  return {
    uuid: m.id,
    terminated: info.terminated,
    signum: info.terminated ? (info.signum ?? SIGTERM) : null,
    expired: info.expired,
  };
}
