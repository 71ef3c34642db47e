import type { Broker, Delivery } from "../brokers/broker.js";
import { deferral } from "../brokers/deferral.js";
import { MaxRetriesExceededError, NotRegisteredError, RetryRequest, TaskRevokedError, TimeLimitExceeded } from "../errors.js";
import { encodeException, formatTraceback } from "../protocol/exception-info.js";
import { hasCanvasLinks, runCanvasLinks } from "../canvas/after-task.js";
import { readBeatHeaders } from "../protocol/beat-headers.js";
import { decodeTaskMessage, encodeTaskMessage, type TaskMessage } from "../protocol/task-message.js";
import { makeContext, runInContext, type ContextState } from "../task-context.js";
import type { TaskDefinition } from "../task.js";
import { bindArguments } from "./bind-arguments.js";
import { recordResult, storeRequestFor, type Outcome, type RecordDeps } from "./record-result.js";
import type { FinishStep, StoreOutcome } from "../backends/result-backend.js";
import type { StoredState } from "../states.js";
import { retryDelayMs } from "./retry-delay.js";
import type { ActiveTask, TaskLifecycle } from "./task-lifecycle.js";
import { limitsFor, runUnderLimits } from "./time-limits.js";
import { recordStarted } from "./track-started.js";

/**
 * Execute one delivery, start to finish. The message is acked only after its outcome is
 * stored (at-least-once): if storing fails, the message goes back to the queue.
 *
 *   malformed          → dead-lettered with the reason (bytes kept), nothing stored
 *   unknown task       → FAILURE stored naming the task, acked
 *   expired message    → REVOKED("expired") stored, acked, handler not run
 *   revoked id         → REVOKED("revoked") stored, acked, handler not run (checked before any ETA wait)
 *   terminated         → REVOKED("terminated") stored once the handler ends, whatever it returned
 *   future ETA         → released until its ETA, or { holdUntil } if the broker cannot delay
 *   success / failure  → stored per policy, acked (STARTED stored first with trackStarted)
 *   hard time limit    → FAILURE TimeLimitExceeded stored, acked; the handler is no longer waited for
 *   retry              → RETRY stored, then a new message with retries+1 published, acked
 */
export interface ExecuteDeps extends RecordDeps {
  broker: Broker;
  registry: ReadonlyMap<string, TaskDefinition>;
  /** Aborted on hard shutdown; each handler's currentTask().signal is linked to it. */
  signal: AbortSignal;
  /** Where the moments of each task are told (events, remote control), and the running tasks kept. */
  lifecycle: TaskLifecycle;
  /** Whether a task id was revoked (remote control); such a message is not run. */
  isRevoked?: (id: string) => boolean;
  /** Store and ack as one step (ResultBackend.finishWith), when the backend and broker share a store. */
  finish?: FinishStep | null;
}

/**
 * { holdUntil }: the message must wait until then (epoch ms, broker clock), for its ETA or
 * because its result could not be stored, and the broker cannot delay it. The caller keeps the
 * lease, waits until then and calls executeMessage again.
 */
export type ExecuteResult = "done" | "dead-lettered" | "deferred" | "requeued" | { holdUntil: number };

const STORE_RETRY_DELAY_MS = 5_000;

/**
 * `ran` is called once the task's outcome is known and before it is stored: the caller may give
 * the task's slot to the next message while this one's result and ack are written.
 */
export async function executeMessage(deps: ExecuteDeps, delivery: Delivery, ran?: () => void): Promise<ExecuteResult> {
  const decoded = decode(delivery);
  if (typeof decoded === "string") {
    deps.log.error(`Malformed message on queue "${delivery.queue}" moved to dead letters: ${decoded}`);
    await deps.broker.deadLetter(delivery, decoded);
    return "dead-lettered";
  }
  const msg = decoded;
  deps.lifecycle.announce(msg, delivery);
  const def = deps.registry.get(msg.task);
  // The broker's clock judges an ETA and an expiry; a message with neither needs no look at it.
  const now = msg.eta !== null || msg.expires !== null ? await deps.broker.now() : Number.NaN;
  const revoked = deps.isRevoked?.(msg.id) === true;
  if (def && !revoked && msg.eta !== null && msg.eta > now) {
    const plan = deferral(deps.broker.capabilities, msg.eta);
    if (plan.kind === "release") {
      await deps.broker.release(delivery, plan.availableAt);
      return "deferred";
    }
    // The caller waits (without a slot) and calls again at the ETA; the lease is kept meanwhile.
    return { holdUntil: plan.until };
  }
  const outcome = revoked ? revokedOutcome(deps, msg, "revoked") : await outcomeOf(deps, delivery, msg, def, now);
  if (outcome.status !== "SUCCESS" && deps.signal.aborted) {
    // Cut short by a hard stop: not the task's failure. Hand the message back to run again.
    deps.log.warn(`Task ${msg.task}[${msg.id}] was interrupted by a hard stop; it goes back to the queue`);
    await deps.broker.release(delivery, null).catch(() => undefined);
    return "requeued";
  }
  ran?.();
  try {
    // The common case, no retry and no canvas: store and ack as one step where the stores allow.
    const request = deps.finish && !outcome.retry && !hasCanvasLinks(msg) ? storeRequestFor(deps, msg, def, outcome) : null;
    if (request) {
      stored(deps, msg, outcome, await deps.finish!(request, delivery));
      told(deps, msg, outcome);
      return "done";
    }
    stored(deps, msg, outcome, await recordResult(deps, msg, def, outcome));
    // Store RETRY first: if storing fails, this message runs again and nothing was published, so
    // one retry chain. (Published first, the rerun would start a second chain under the same id.)
    if (outcome.retry)
      await deps.broker.publish(encodeTaskMessage(outcome.retry), {
        queue: msg.queue,
        priority: msg.priority,
        availableAt: outcome.retry.eta,
      });
    // Canvas (src/canvas): callbacks, the next chain step, chord counting, errbacks. After the
    // result is stored and before the ack: a crash in between runs and sends again (at-least-once).
    await runCanvasLinks(deps, msg, outcome);
    told(deps, msg, outcome);
  } catch (e) {
    const what = `Could not store the result of ${msg.task}[${msg.id}]${outcome.retry ? " or publish its retry" : ""}: ${(e as Error).message}`;
    const plan = deferral(deps.broker.capabilities, (await deps.broker.now().catch(() => Date.now())) + STORE_RETRY_DELAY_MS);
    // Without delayed delivery the worker holds it (lease kept, no slot) and runs it again then.
    if (plan.kind === "hold") {
      deps.log.error(`${what}; this worker runs it again in ${STORE_RETRY_DELAY_MS / 1000}s`);
      return { holdUntil: plan.until };
    }
    try {
      await deps.broker.release(delivery, plan.availableAt);
      deps.log.error(`${what}; the message goes back to the queue and runs again in ${STORE_RETRY_DELAY_MS / 1000}s`);
    } catch (r) {
      // Nothing lost: the lease lapses and the broker delivers the message again.
      deps.log.error(
        `${what}; it could not be given back either (${(r as Error).message}), so it runs again once its visibility timeout passes`,
      );
    }
    return "requeued";
  }
  await deps.broker.ack(delivery);
  return "done";
}

/** Tell the lifecycle's listeners that a new state was stored (metrics count results by it). */
function stored(deps: ExecuteDeps, msg: TaskMessage, outcome: TaskOutcome, out: StoreOutcome | null): void {
  if (out === null || !out.stored) return;
  deps.lifecycle.emit("stored", out.result, outcome.startedStored ? "STARTED" : previousState(msg));
}

/** A retried message's earlier run stored RETRY under the same id. */
function previousState(msg: TaskMessage): StoredState | null {
  return msg.retries > 0 ? "RETRY" : null;
}

/** Tell the lifecycle's listeners what became of the task, once it is stored. */
function told(deps: ExecuteDeps, msg: TaskMessage, outcome: TaskOutcome): void {
  const runtimeMs = outcome.runtimeMs ?? 0;
  switch (outcome.status) {
    case "SUCCESS":
      deps.lifecycle.emit("succeeded", msg, { result: outcome.result, runtimeMs });
      break;
    case "FAILURE":
      deps.lifecycle.emit("failed", msg, { error: outcome.error, traceback: outcome.traceback, runtimeMs });
      break;
    case "RETRY":
      deps.lifecycle.emit("retried", msg, { error: outcome.error, traceback: outcome.traceback, eta: outcome.retry?.eta ?? null });
      break;
    case "REVOKED":
      deps.lifecycle.emit("revoked", msg, {
        reason: outcome.revokedReason ?? "revoked",
        expired: outcome.revokedReason === "expired",
        terminated: outcome.revokedReason === "terminated",
      });
      break;
  }
}

/** An outcome, and what the worker needs besides storing it. */
type TaskOutcome = Outcome & { retry?: TaskMessage; runtimeMs?: number; revokedReason?: string; startedStored?: boolean };

/** The delivery's task message, or why it is not one (unframed bytes, or not protocol v2 JSON). */
function decode(delivery: Delivery): TaskMessage | string {
  if (delivery.message === null) return delivery.reason;
  try {
    return decodeTaskMessage(delivery.message, delivery.queue);
  } catch (e) {
    return (e as Error).message;
  }
}

async function outcomeOf(
  deps: ExecuteDeps,
  delivery: Delivery,
  msg: TaskMessage,
  def: TaskDefinition | undefined,
  now: number,
): Promise<TaskOutcome> {
  if (!def) {
    const err = new NotRegisteredError(msg.task);
    deps.log.error(`Received unregistered task "${msg.task}" (id ${msg.id}); storing FAILURE. ${err.message}`);
    return {
      status: "FAILURE",
      result: { exc_type: "NotRegistered", exc_message: [msg.task], exc_module: "celery.exceptions" },
      traceback: null,
      error: err,
    };
  }
  if (msg.expires !== null && now >= msg.expires) {
    deps.log.warn(`Task ${msg.task}[${msg.id}] expired at ${new Date(msg.expires).toISOString()} before it started; marking REVOKED`);
    return revokedOutcome(deps, msg, "expired");
  }
  const state: ContextState = {};
  const running = deps.lifecycle.begin(msg, delivery, deps.signal);
  const ctx = makeContext(
    {
      id: msg.id,
      name: msg.task,
      retries: msg.retries,
      kwargs: msg.kwargs,
      queue: msg.queue,
      redelivered: delivery.redelivered,
      // Read when the handler asks for it: the task's controller is made then.
      get signal() {
        return running.task.signal;
      },
      beat: readBeatHeaders(msg.headers),
    },
    state,
  );
  const started = performance.now();
  deps.log.debug?.(`Task ${msg.task}[${msg.id}] received${delivery.redelivered ? " (redelivered)" : ""}`);
  deps.lifecycle.emit("started", running.task);
  let startedStored = false;
  if (def.trackStarted ?? deps.config.trackStarted) {
    const out = await recordStarted(deps, msg, def);
    if (out?.stored) {
      startedStored = true;
      deps.lifecycle.emit("stored", out.result, previousState(msg));
    }
  }
  let outcome: TaskOutcome;
  try {
    outcome = await runHandler(deps, msg, def, running.task, ctx, state, started);
  } finally {
    running.end();
  }
  // Terminated by remote control: REVOKED, whatever the handler made of its aborted signal.
  const final = running.task.abortReason instanceof TaskTerminated ? revokedOutcome(deps, msg, "terminated") : outcome;
  if (startedStored) final.startedStored = true;
  return final;
}

/**
 * The reason a terminated task's signal carries (revoke with terminate): a TaskRevokedError
 * whose reason is "terminated", so a handler that rethrows signal.reason says what happened.
 */
export class TaskTerminated extends TaskRevokedError {
  constructor(taskId: string, signal: string) {
    super(taskId, `terminated (${signal})`);
  }
}

/** REVOKED with Celery's TaskRevokedError(reason): "expired", "revoked" or "terminated". */
function revokedOutcome(deps: ExecuteDeps, msg: TaskMessage, reason: "expired" | "revoked" | "terminated"): TaskOutcome {
  if (reason !== "expired")
    deps.log.warn(
      `Task ${msg.task}[${msg.id}] ${reason === "revoked" ? "was revoked; not running it" : "was terminated"}; marking REVOKED`,
    );
  return {
    status: "REVOKED",
    result: { exc_type: "TaskRevokedError", exc_message: [reason], exc_module: "celery.exceptions" },
    traceback: null,
    revokedReason: reason,
  };
}

async function runHandler(
  deps: ExecuteDeps,
  msg: TaskMessage,
  def: TaskDefinition,
  task: ActiveTask,
  ctx: ReturnType<typeof makeContext>,
  state: ContextState,
  started: number,
): Promise<TaskOutcome> {
  try {
    // Binding kwargs may throw TypeError (an unknown kwarg): the task's FAILURE, as on a Python worker.
    const value = await runUnderLimits(
      limitsFor(msg, def, deps.config),
      task,
      () => runInContext(ctx, () => (def.handler as (...a: unknown[]) => unknown)(...bindArguments(def, msg.args, msg.kwargs))),
      { log: deps.log, onHardLimit: (e) => (state.ended = e) },
    );
    const runtimeMs = performance.now() - started;
    deps.log.debug?.(`Task ${msg.task}[${msg.id}] succeeded in ${(runtimeMs / 1000).toFixed(3)}s`);
    return { status: "SUCCESS", result: value === undefined ? null : value, traceback: null, runtimeMs, ...dynamic(state) };
  } catch (error) {
    const runtimeMs = performance.now() - started;
    // Celery's hard limit kills the task: no retry, and no traceback of the handler's.
    if (error instanceof TimeLimitExceeded) return { status: "FAILURE", result: encodeException(error), traceback: null, error, runtimeMs };
    const retry = error instanceof RetryRequest ? error : def.autoretry(error) ? new RetryRequest(null, error) : null;
    const cause = retry ? (retry.exc ?? error) : error;
    if (retry && !retriesExhausted(deps, msg, def, retry)) {
      const delay = retryDelayMs({
        retries: msg.retries,
        countdownMs: retry.countdownMs,
        baseMs: def.retryDelayMs ?? deps.config.retryDelayMs,
        backoff: def.retryBackoff,
        maxMs: def.retryBackoffMaxMs,
      });
      deps.log.warn(`Task ${msg.task}[${msg.id}] retry ${msg.retries + 1} in ${delay} ms: ${describeError(cause)}`);
      const next: TaskMessage = { ...msg, retries: msg.retries + 1, eta: (await deps.broker.now()) + delay, parentId: msg.id };
      return { status: "RETRY", result: encodeException(cause), traceback: formatTraceback(cause), error: cause, retry: next, runtimeMs };
    }
    // Out of retries with no exception of its own: say so, as Celery does, rather than store Ebb's internal RetryRequest.
    const failure = cause instanceof RetryRequest ? new MaxRetriesExceededError(msg.task, msg.id, msg.retries) : cause;
    deps.log.error(`Task ${msg.task}[${msg.id}] failed: ${describeError(failure)}`);
    return {
      status: "FAILURE",
      result: encodeException(failure),
      traceback: formatTraceback(failure),
      error: failure,
      runtimeMs,
      ...dynamic(state),
    };
  }
}

function retriesExhausted(deps: ExecuteDeps, msg: TaskMessage, def: TaskDefinition, retry: RetryRequest): boolean {
  const max = retry.maxRetries ?? (def.maxRetries !== undefined ? def.maxRetries : deps.config.maxRetries);
  return max !== null && msg.retries >= max;
}

function dynamic(state: ContextState): { dynamicMs?: number | null } {
  return state.dynamicLifetimeMs !== undefined ? { dynamicMs: state.dynamicLifetimeMs } : {};
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
