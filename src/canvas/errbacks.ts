import type { AfterTaskDeps } from "./after-task.js";
import { applySignature } from "./apply-signature.js";
import { groupOfTasks } from "./make-signature.js";
import { listOf, toSignature } from "./signature.js";

/** Celery's _call_task_errbacks for errbacks sent as tasks: one group, each given the failed task's id. */
export async function sendErrbacks(deps: AfterTaskDeps, errbacks: unknown, taskId: string, rootId: string): Promise<void> {
  const sigs = listOf(errbacks, "errbacks").map((e) => toSignature(e, "errback"));
  if (sigs.length === 0) return;
  await applySignature(deps, groupOfTasks(sigs), [taskId], {}, { parent_id: taskId, root_id: rootId });
}
