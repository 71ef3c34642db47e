import { ProtocolError } from "../errors.js";
import { isStoredState, type StoredState } from "../states.js";
import { dumpsCeleryJson, parseCeleryJson } from "./celery-json.js";
import { parseCeleryTime, toCeleryNaive } from "./timestamps.js";

/**
 * Celery's JSON result meta, as its Redis backend stores it under celery-task-meta-<id>
 * (reference/celery/result_values/*.json). Key order matches Celery's, extended fields
 * (result_extended=True) sit between date_done and task_id:
 *
 *   {"status", "result", "traceback", "children", "date_done",
 *    ["name", "args", "kwargs", "worker", "retries", "queue",] "task_id"}
 *
 * date_done is naive UTC with 6 fractional digits, or null for states that are not done.
 */
export interface ResultMeta {
  taskId: string;
  status: StoredState;
  result: unknown;
  traceback: string | null;
  /** null when Celery stored a result outside a task request (store_result from a client). */
  children: unknown[] | null;
  /** Epoch ms, or null. */
  dateDone: number | null;
  extended?: ExtendedFields;
}

/** The call's fields Celery stores only with result_extended=True (Ebb: resultExtended). */
export interface ExtendedFields {
  name: string | null;
  args: unknown[] | null;
  kwargs: Record<string, unknown> | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

/**
 * The extended fields of a request or result for a stored value, or undefined when it has none
 * (resultExtended off, or a Celery value written without result_extended): the value then has
 * exactly the keys Celery writes without result_extended.
 */
export function extendedOf(x: { [K in keyof ExtendedFields]?: ExtendedFields[K] | undefined }): ExtendedFields | undefined {
  const e: ExtendedFields = {
    name: x.name ?? null,
    args: x.args ?? null,
    kwargs: x.kwargs ?? null,
    worker: x.worker ?? null,
    retries: x.retries ?? null,
    queue: x.queue ?? null,
  };
  return Object.values(e).every((v) => v === null) ? undefined : e;
}

export function encodeResultMeta(meta: ResultMeta): string {
  const out: Record<string, unknown> = {
    status: meta.status,
    result: meta.result,
    traceback: meta.traceback,
    children: meta.children,
    date_done: meta.dateDone === null ? null : toCeleryNaive(meta.dateDone),
  };
  if (meta.extended) {
    const e = meta.extended;
    Object.assign(out, { name: e.name, args: e.args, kwargs: e.kwargs, worker: e.worker, retries: e.retries, queue: e.queue });
  }
  out.task_id = meta.taskId;
  return dumpsCeleryJson(out);
}

/** Parse a stored value. `where` names its origin for the error (e.g. the Redis key). */
export function decodeResultMeta(raw: string, where: string): ResultMeta {
  let v: unknown;
  try {
    v = parseCeleryJson(raw);
  } catch (cause) {
    throw new ProtocolError(`Result at ${where} is not JSON; Ebb reads only JSON results (result_serializer="json")`, { cause });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProtocolError(`Result at ${where} is not a JSON object`);
  const o = v as Record<string, unknown>;
  if (!isStoredState(o.status))
    throw new ProtocolError(`Result at ${where} has status ${JSON.stringify(o.status)}; expected one of Celery's states such as "SUCCESS"`);
  if (typeof o.task_id !== "string") throw new ProtocolError(`Result at ${where} has no task_id`);
  const meta: ResultMeta = {
    taskId: o.task_id,
    status: o.status,
    result: o.result ?? null,
    traceback: typeof o.traceback === "string" ? o.traceback : null,
    children: Array.isArray(o.children) ? o.children : o.children === null ? null : [],
    dateDone: typeof o.date_done === "string" ? parseCeleryTime(o.date_done, `${where} date_done`) : null,
  };
  if ("name" in o || "worker" in o) {
    meta.extended = {
      name: typeof o.name === "string" ? o.name : null,
      args: Array.isArray(o.args) ? o.args : null,
      kwargs: typeof o.kwargs === "object" && o.kwargs !== null ? (o.kwargs as Record<string, unknown>) : null,
      worker: typeof o.worker === "string" ? o.worker : null,
      retries: typeof o.retries === "number" ? o.retries : null,
      queue: typeof o.queue === "string" ? o.queue : null,
    };
  }
  return meta;
}
