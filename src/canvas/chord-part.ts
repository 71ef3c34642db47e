import type { ChordPart } from "../backends/chord-store.js";
import { isExceptionInfo, type ExceptionInfo } from "../protocol/exception-info.js";
import { pythonExceptionRepr, pythonRepr } from "../protocol/python-repr.js";
import { makeTaskMessage, type TaskMessage } from "../protocol/task-message.js";
import { recordResult, type Outcome } from "../worker/record-result.js";
import type { AfterTaskDeps } from "./after-task.js";
import { sendErrbacks } from "./errbacks.js";
import { applySignature } from "./apply-signature.js";
import { toSignature, type SignatureDict } from "./signature.js";

const PROPAGATE = new Set(["FAILURE", "REVOKED"]);

/**
 * A chord header part finished (Celery's RedisBackend.on_chord_part_return): count it in the
 * result backend; the part that completes the header sends the body with every part's result,
 * in header order. When a part failed, or the body cannot be sent, the body is stored as FAILURE
 * with a ChordError (Celery's chord_error_from_stack) and its link_error errbacks are sent.
 */
export async function chordPartReturned(deps: AfterTaskDeps, msg: TaskMessage, outcome: Pick<Outcome, "status" | "result">): Promise<void> {
  const groupId = msg.group!;
  const body = toSignature(msg.embed.chord, `chord body of ${msg.task}[${msg.id}]`);
  if (!deps.chords) {
    await chordError(
      deps,
      body,
      `The result backend ${deps.backendUrl} cannot count chord parts, so the body of chord ${groupId} cannot run; use a Redis, SQLite or memory result backend for chords`,
    );
    return;
  }
  const part: ChordPart = {
    taskId: msg.id,
    state: outcome.status as ChordPart["state"],
    result: outcome.result ?? null,
    groupIndex: msg.groupIndex ?? null,
  };
  const parts = await deps.chords.chordPartReturned(groupId, part, { expiresMs: deps.config.resultExpiresMs });
  if (parts === null) return;
  const failed = parts.find((p) => PROPAGATE.has(p.state));
  if (failed) {
    deps.log.error(`Chord ${groupId}: part ${failed.taskId} ended ${failed.state}; its body ${body.task} fails with ChordError`);
    await chordError(deps, body, `Dependency ${failed.taskId} raised ${reprOfFailure(failed.result)}`);
    await deps.chords.chordCompleted(groupId);
    return;
  }
  try {
    await applySignature(deps, body, [parts.map((p) => p.result)]);
  } catch (e) {
    deps.log.error(`Chord ${groupId}: its body ${body.task} could not be sent: ${(e as Error).message}`);
    await chordError(deps, body, `Callback error: ${pythonExceptionRepr(e)}`);
  }
  await deps.chords.chordCompleted(groupId);
}

/** Fail the chord's body: send its errbacks, store FAILURE(ChordError) under its id. */
async function chordError(deps: AfterTaskDeps, body: SignatureDict, reason: string): Promise<void> {
  const bodyId = typeof body.options.task_id === "string" ? body.options.task_id : null;
  if (bodyId === null) {
    deps.log.error(`A chord body (${body.task}) has no task id, so its failure cannot be stored: ${reason}`);
    return;
  }
  await sendErrbacks(deps, body.options.link_error, bodyId, typeof body.options.root_id === "string" ? body.options.root_id : bodyId);
  const error: ExceptionInfo = { exc_type: "ChordError", exc_message: [reason], exc_module: "celery.exceptions" };
  const msg = makeTaskMessage({ task: body.task, args: [], id: bodyId });
  await recordResult(deps, msg, deps.registry.get(body.task), { status: "FAILURE", result: error, traceback: null });
}

/** What Celery's ChordError says a failed part raised: `ValueError('boom')`. */
function reprOfFailure(result: unknown): string {
  return isExceptionInfo(result) ? pythonExceptionRepr(result) : pythonRepr(result);
}
