import { stringifyCeleryJson } from "../../protocol/celery-json.js";
import type { StoredState } from "../../states.js";
import type { RetentionAction, StoreRequest, StoredResult } from "../result-backend.js";
import { jsonColumn as json, storedFromColumns, type ResultColumns } from "../result-columns.js";
import type { ResultRecord } from "../retention-store.js";

/** One ebb_results row as pg returns it (bigint read as numbers; schema in src/postgres/migrations). */
export interface ResultRow extends ResultColumns {
  held: boolean;
}

export interface RecordRow extends ResultRow {
  archived: boolean;
  bytes: number;
}

/** What a read selects. */
export const SELECT_COLUMNS =
  "task_id, status, result, traceback, children, date_done, expires_at, tier, action, held, name, args, kwargs, worker, retries, queue";

/**
 * The lane a row belongs in (see migrations/0001_results.sql), as SQL over a row's columns:
 * `p` is the column prefix ("", "q.", "excluded.").
 */
export function laneSql(p: string, held: string): string {
  return `CASE WHEN ${held} OR ${p}expires_at IS NULL OR ${p}status NOT IN ('SUCCESS', 'FAILURE', 'REVOKED') THEN 2 WHEN ${p}action = 'archive' THEN 1 ELSE 0 END`;
}

/** The same rule in TypeScript, for deciding which partitions a write needs. */
export function laneOf(r: { held: boolean; expiresAt: number | null; status: StoredState; action: RetentionAction }): 0 | 1 | 2 {
  if (r.held || r.expiresAt === null || !["SUCCESS", "FAILURE", "REVOKED"].includes(r.status)) return 2;
  return r.action === "archive" ? 1 : 0;
}

/** A request's columns, encoded now (so a bad value fails its own call), in the order of STORE_ARRAYS. */
export interface EncodedRequest {
  taskId: string;
  status: StoredState;
  result: string | null;
  traceback: string | null;
  children: string;
  lifetimeMs: number | null;
  tier: string | null;
  action: RetentionAction;
  name: string | null;
  args: string | null;
  kwargs: string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

export function encodeRequest(r: StoreRequest): EncodedRequest {
  return {
    taskId: r.taskId,
    status: r.status,
    result: json(r.result),
    traceback: r.traceback,
    children: r.children == null || (Array.isArray(r.children) && r.children.length === 0) ? "[]" : stringifyCeleryJson(r.children),
    lifetimeMs: r.lifetimeMs === null ? null : Math.round(r.lifetimeMs),
    tier: r.tier,
    action: r.action,
    name: r.name ?? null,
    args: json(r.args),
    kwargs: json(r.kwargs),
    worker: r.worker ?? null,
    retries: r.retries ?? null,
    queue: r.queue ?? null,
  };
}

/** The batch as one array per column, the parameters of the store statement ($1..$14). */
export function storeArrays(batch: readonly EncodedRequest[]): unknown[][] {
  const keys = [
    "taskId",
    "status",
    "result",
    "traceback",
    "children",
    "lifetimeMs",
    "tier",
    "action",
    "name",
    "args",
    "kwargs",
    "worker",
    "retries",
    "queue",
  ] as const;
  return keys.map((k) => batch.map((r) => r[k]));
}

/** The stored result an encoded request made, read back as a lookup would (JSON parsed anew). */
export function storedFrom(r: EncodedRequest, dateDone: number | null, expiresAt: number | null, held: boolean): StoredResult {
  const { taskId, lifetimeMs: _lifetime, ...rest } = r;
  return storedFromColumns({ ...rest, task_id: taskId, date_done: dateDone, expires_at: expiresAt }, held);
}

export function fromRow(row: ResultRow): StoredResult {
  return storedFromColumns(row, row.held);
}

export function toRecord(row: RecordRow): ResultRecord {
  return { ...fromRow(row), bytes: row.bytes, origin: "ebb", archived: row.archived };
}

/** A StoredResult as put() writes it: one value per column of PUT_COLUMNS. */
export const PUT_COLUMNS = [
  "task_id",
  "lane",
  "status",
  "result",
  "traceback",
  "children",
  "date_done",
  "expires_at",
  "tier",
  "action",
  "held",
  "archived",
  "name",
  "args",
  "kwargs",
  "worker",
  "retries",
  "queue",
] as const;

export function putValues(r: StoredResult, archived: boolean): unknown[] {
  return [
    r.taskId,
    laneOf(r),
    r.status,
    json(r.result),
    r.traceback,
    stringifyCeleryJson(r.children ?? []),
    r.dateDone,
    r.expiresAt,
    r.tier,
    r.action,
    r.held,
    archived,
    r.name ?? null,
    json(r.args),
    json(r.kwargs),
    r.worker ?? null,
    r.retries ?? null,
    r.queue ?? null,
  ];
}
