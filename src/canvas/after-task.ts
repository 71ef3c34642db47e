import { stringifyCeleryJson } from "../protocol/celery-json.js";
import { ProtocolError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Broker } from "../brokers/broker.js";
import { encodeTaskMessage, makeTaskMessage, type TaskMessage } from "../protocol/task-message.js";
import type { TaskDefinition } from "../task.js";
import { recordResult, type Outcome, type RecordDeps } from "../worker/record-result.js";
import { applySignature, type CanvasDeps } from "./apply-signature.js";
import { chordPartReturned } from "./chord-part.js";
import { sendErrbacks } from "./errbacks.js";
import { groupOfTasks } from "./make-signature.js";
import { isObject, listOf, toSignature } from "./signature.js";

/**
 * What a worker does for the canvas after a task's outcome is stored and before its message is
 * acked, as Celery's tracer and backend do (celery/app/trace.py build_tracer; mark_as_done,
 * mark_as_failure, mark_as_revoked in celery/backends/base.py):
 *
 *   SUCCESS   link callbacks get the result as first argument; the next chain step is sent with
 *             it and the rest of the chain; a chord header part is counted
 *   FAILURE   a chord part is counted (the chord then fails); every later chain step is stored as
 *             the same FAILURE, so waiting on the chain's last id fails instead of hanging; the
 *             link_error errbacks are sent with the failed task's id
 *   REVOKED   a chord part is counted
 *   RETRY     nothing yet: the retried message carries the canvas on
 *
 * Run before the ack, so a crash in between runs the task again and sends again: at-least-once,
 * like the result itself (a chord counts a redelivered part once). Errbacks go out as tasks with
 * (task_id,), Celery's old-style call: an Ebb worker cannot call a Python errback that takes
 * (request, exc, traceback) in-process, so route those to Python workers.
 */
export type AfterTaskDeps = Omit<CanvasDeps, "config"> & RecordDeps & { log: Logger };

/** What the worker hands over: its broker, backend, tasks, config and log. */
export type WorkerCanvasDeps = RecordDeps & { broker: Broker; registry: ReadonlyMap<string, TaskDefinition> };

/** Whether the message asks for anything after its task (callbacks, errbacks, a chain, a chord). */
export function hasCanvasLinks(msg: TaskMessage): boolean {
  const { embed } = msg;
  return embed.callbacks != null || embed.errbacks != null || embed.chain != null || embed.chord != null;
}

/** The worker's entry point (execute-message.ts): run what the message's canvas links ask for. */
export async function runCanvasLinks(worker: WorkerCanvasDeps, msg: TaskMessage, outcome: Outcome): Promise<void> {
  if (!hasCanvasLinks(msg)) return;
  await afterTask(
    {
      ...worker,
      publish: (m) => worker.broker.publish(encodeTaskMessage(m), { queue: m.queue, priority: m.priority, availableAt: m.eta }),
      chords: worker.backend.chords ?? null,
      backendUrl: worker.backend.url,
      now: worker.config.clock,
    },
    msg,
    outcome,
  );
}

export async function afterTask(deps: AfterTaskDeps, msg: TaskMessage, outcome: Outcome): Promise<void> {
  if (!hasCanvasLinks(msg)) return;
  try {
    if (outcome.status === "SUCCESS") await onSuccess(deps, msg, outcome.result);
    else if (outcome.status === "FAILURE") await onFailure(deps, msg, outcome);
    else if (outcome.status === "REVOKED") await chordPartOf(deps, msg, outcome);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e; // the store or broker: the message runs again
    // A malformed canvas would fail the same way on every rerun: say what it was, keep it in the log.
    deps.log.error(
      `Task ${msg.task}[${msg.id}] ended ${outcome.status}, but its canvas could not be run: ${e.message}. Its links were: ${stringifyCeleryJson(msg.embed)}`,
    );
  }
}

async function onSuccess(deps: AfterTaskDeps, msg: TaskMessage, result: unknown): Promise<void> {
  const links = { parent_id: msg.id, root_id: msg.rootId };
  const callbacks = listOf(msg.embed.callbacks, "callbacks");
  if (callbacks.length === 1) await applySignature(deps, callbacks[0], [result], {}, links);
  else if (callbacks.length > 1) {
    // Celery: groups on their own, the other callbacks together as one group.
    const sigs = callbacks.map((c) => toSignature(c, "callback"));
    for (const g of sigs.filter((s) => s.subtask_type === "group")) await applySignature(deps, g, [result], {}, links);
    const rest = sigs.filter((s) => s.subtask_type !== "group");
    if (rest.length > 0) await applySignature(deps, groupOfTasks(rest), [result], {}, links);
  }
  const chain = listOf(msg.embed.chain, "chain");
  if (chain.length > 0) {
    const remaining = chain.slice(0, -1);
    await applySignature(deps, chain[chain.length - 1], [result], {}, { chain: remaining, ...links });
  }
  await chordPartOf(deps, msg, { status: "SUCCESS", result });
}

async function onFailure(deps: AfterTaskDeps, msg: TaskMessage, outcome: Outcome): Promise<void> {
  await chordPartOf(deps, msg, outcome);
  for (const step of listOf(msg.embed.chain, "chain")) {
    if (!isObject(step) || !isObject(step.options)) continue;
    const o = step.options;
    const stepId = typeof o.task_id === "string" ? o.task_id : null;
    const task = typeof step.task === "string" ? step.task : "celery.chain";
    const stepMsg = makeTaskMessage({
      task,
      args: [],
      ...(stepId ? { id: stepId } : {}),
      embed: { callbacks: null, errbacks: null, chain: null, chord: o.chord ?? null },
      group: typeof o.group_id === "string" ? o.group_id : null,
      groupIndex: typeof o.group_index === "number" ? o.group_index : null,
    });
    if (stepId) await recordResult(deps, stepMsg, deps.registry.get(task), outcome);
    if ("chord" in o) await chordPartOf(deps, stepMsg, outcome);
  }
  await sendErrbacks(deps, msg.embed.errbacks, msg.id, msg.rootId);
}

async function chordPartOf(deps: AfterTaskDeps, msg: TaskMessage, outcome: Pick<Outcome, "status" | "result">): Promise<void> {
  if (msg.embed.chord == null || msg.group === null) return;
  await chordPartReturned(deps, msg, outcome);
}
