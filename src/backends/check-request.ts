import { isStoredState } from "../states.js";
import type { StoreRequest } from "./result-backend.js";

/**
 * What a SQL store would take but must not be stored, said now and naming the field, rather than
 * as a constraint error from the database (SQLite, PostgreSQL).
 */
export function checkRequest(request: StoreRequest): void {
  const { taskId, status, lifetimeMs } = request;
  if (typeof taskId !== "string" || taskId.length === 0)
    throw new TypeError(`Expected a result's taskId to be a non-empty string, got ${JSON.stringify(taskId) ?? String(taskId)}`);
  if (taskId.includes("\u0000")) throw new TypeError(`Expected result id ${JSON.stringify(taskId)} to have no NUL character`);
  if (!isStoredState(status))
    throw new TypeError(`Expected the status of result ${taskId} to be a Celery state (SUCCESS, FAILURE, ...), got ${String(status)}`);
  if (lifetimeMs !== null && !Number.isFinite(lifetimeMs))
    throw new TypeError(
      `Expected the lifetime of result ${taskId} to be a number of ms or null (never expires), got ${String(lifetimeMs)}`,
    );
}
