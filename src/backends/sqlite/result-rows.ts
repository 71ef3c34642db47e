import { stringifyCeleryJson } from "../../protocol/celery-json.js";
import type { StoredState } from "../../states.js";
import type { RetentionAction, StoreRequest, StoredResult } from "../result-backend.js";
import { jsonColumn as json, parseJsonColumn as parse, storedFromColumns, type ResultColumns } from "../result-columns.js";
import type { ResultRecord } from "../retention-store.js";

/** One ebb_results row as better-sqlite3 returns it (schema in src/sqlite/migrations.ts). */
export interface ResultRow extends ResultColumns {
  held: number;
}

/** A row as a scan reads it: the retention columns too. */
export interface RecordRow extends ResultRow {
  archived: number;
  bytes: number;
}

export type Params = Omit<ResultRow, "held">;

/** The columns store() writes; held and archived are retention state, kept apart from a task's writes. */
export const COLUMNS = [
  "task_id",
  "status",
  "result",
  "traceback",
  "children",
  "date_done",
  "expires_at",
  "tier",
  "action",
  "name",
  "args",
  "kwargs",
  "worker",
  "retries",
  "queue",
] as const;

/**
 * What a result costs the store, for stats and --dry-run: the UTF-8 bytes of the row's text
 * columns (the payload). Integer columns and SQLite's page overhead are left out; the file's
 * own size is in storeFacts().
 */
export const BYTES_SQL = [...COLUMNS.filter((c) => c !== "date_done" && c !== "expires_at" && c !== "retries")]
  .map((c) => `IFNULL(octet_length(${c}), 0)`)
  .join(" + ");

export function toParams(r: StoreRequest | StoredResult, dateDone: number | null, expiresAt: number | null): Params {
  return {
    task_id: r.taskId,
    status: r.status,
    result: json(r.result),
    traceback: r.traceback,
    children: stringifyCeleryJson(r.children ?? []),
    date_done: dateDone,
    expires_at: expiresAt,
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

/** A row as positional values, in COLUMNS order (Values[5] is date_done, Values[6] expires_at). */
export type Values = [
  task_id: string,
  status: StoredState,
  result: string | null,
  traceback: string | null,
  children: string,
  date_done: number | null,
  expires_at: number | null,
  tier: string | null,
  action: RetentionAction,
  name: string | null,
  args: string | null,
  kwargs: string | null,
  worker: string | null,
  retries: number | null,
  queue: string | null,
];
export const DATE_DONE = 5;
export const EXPIRES_AT = 6;

/** What store() writes for a request, encoded now (date_done and expires_at are stamped in the transaction). */
export function toValues(r: StoreRequest): Values {
  return [
    r.taskId,
    r.status,
    json(r.result),
    r.traceback,
    r.children == null || (Array.isArray(r.children) && r.children.length === 0) ? "[]" : stringifyCeleryJson(r.children),
    null,
    null,
    r.tier,
    r.action,
    r.name ?? null,
    json(r.args),
    json(r.kwargs),
    r.worker ?? null,
    r.retries ?? null,
    r.queue ?? null,
  ];
}

/** The stored result those values make, with its hold: read back as a lookup would (the JSON parsed anew). */
export function fromValues(v: Values, held: number): StoredResult {
  return {
    taskId: v[0],
    status: v[1],
    result: parse(v[2]),
    traceback: v[3],
    children: parse<unknown[]>(v[4]) ?? [],
    dateDone: v[5],
    expiresAt: v[6],
    tier: v[7],
    action: v[8],
    held: held !== 0,
    name: v[9],
    args: parse<unknown[]>(v[10]),
    kwargs: parse<Record<string, unknown>>(v[11]),
    worker: v[12],
    retries: v[13],
    queue: v[14],
  };
}

export function fromRow(row: ResultRow): StoredResult {
  return storedFromColumns(row, row.held !== 0);
}

export function toRecord(row: RecordRow): ResultRecord {
  return { ...fromRow(row), bytes: row.bytes, origin: "ebb", archived: row.archived !== 0 };
}
