import type { StoreOutcome } from "../backends/result-backend.js";
import type { TaskMessage } from "../protocol/task-message.js";
import type { TaskDefinition } from "../task.js";
import { recordResult, type RecordDeps } from "./record-result.js";

/**
 * Celery's track_started: store STARTED, with {pid, hostname} as its result, when the handler
 * starts (the task's trackStarted, else the app's; off by default). Like every other state it is
 * stored only when the result is not ignored (Celery skips it for tasks that ignore results;
 * Ebb also for a call that asked not to store, which would otherwise leave STARTED behind), and
 * with the lifetime the result's policy gives. A final state already stored (a redelivery of a
 * finished task) is kept: the backends never replace a ready result.
 *
 * A store that fails here does not stop the task: STARTED is progress, not an outcome; the
 * outcome is stored (or the message retried) as usual. Returns what was stored, or null.
 */
export async function recordStarted(deps: RecordDeps, msg: TaskMessage, def: TaskDefinition): Promise<StoreOutcome | null> {
  if (!(def.trackStarted ?? deps.config.trackStarted)) return null;
  try {
    return await recordResult(deps, msg, def, {
      status: "STARTED",
      result: { pid: process.pid, hostname: deps.workerName },
      traceback: null,
    });
  } catch (e) {
    deps.log.warn(`Could not store STARTED for ${msg.task}[${msg.id}]: ${(e as Error).message}; the task runs anyway`);
    return null;
  }
}
