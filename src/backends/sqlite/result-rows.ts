import { parseCeleryJson, stringifyCeleryJson } from "../../protocol/celery-json.js";
import type { StoredState } from "../../states.js";
import type { RetentionAction, StoreRequest, StoredResult } from "../result-backend.js";
import type { ResultRecord } from "../retention-store.js";

/** One ebb_results row as better-sqlite3 returns it (schema in src/sqlite/migrations.ts). */
export interface ResultRow {
  task_id: string;
  status: StoredState;
  result: string | null;
  traceback: string | null;
  children: string | null;
  date_done: number | null;
  expires_at: number | null;
  tier: string | null;
  action: RetentionAction;
  held: number;
  name: string | null;
  args: string | null;
  kwargs: string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
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

function json(value: unknown): string | null {
  return value === undefined || value === null ? null : stringifyCeleryJson(value);
}

function parse<T>(text: string | null): T | null {
  if (text === null) return null;
  // Most results have no children: skip the parser for them.
  return (text === "[]" ? [] : parseCeleryJson(text)) as T;
}

export function toParams(r: StoreRequest | StoredResult, dateDone: number | null, expiresAt: number | null): Params {
  return {
    task_id: r.taskId,
    status: r.status,
    result: json(r.result),
    traceback: r.traceback,
    children: r.children == null || (Array.isArray(r.children) && r.children.length === 0) ? "[]" : stringifyCeleryJson(r.children),
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

/** The params as positional values, in COLUMNS order. */
export function toValues(p: Params): unknown[] {
  return [
    p.task_id,
    p.status,
    p.result,
    p.traceback,
    p.children,
    p.date_done,
    p.expires_at,
    p.tier,
    p.action,
    p.name,
    p.args,
    p.kwargs,
    p.worker,
    p.retries,
    p.queue,
  ];
}

export function fromRow(row: ResultRow): StoredResult {
  return {
    taskId: row.task_id,
    status: row.status,
    result: parse(row.result),
    traceback: row.traceback,
    children: parse<unknown[]>(row.children) ?? [],
    dateDone: row.date_done,
    expiresAt: row.expires_at,
    tier: row.tier,
    action: row.action,
    held: row.held !== 0,
    name: row.name,
    args: parse<unknown[]>(row.args),
    kwargs: parse<Record<string, unknown>>(row.kwargs),
    worker: row.worker,
    retries: row.retries,
    queue: row.queue,
  };
}

export function toRecord(row: RecordRow): ResultRecord {
  return { ...fromRow(row), bytes: row.bytes, origin: "ebb", archived: row.archived !== 0 };
}
