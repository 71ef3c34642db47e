import { parseCeleryJson, stringifyCeleryJson } from "../protocol/celery-json.js";
import type { StoredState } from "../states.js";
import type { RetentionAction, StoredResult } from "./result-backend.js";

/**
 * A result as SQL stores keep it (SQLite's and PostgreSQL's ebb_results): one column per field,
 * the JSON ones (result, children, args, kwargs) as Celery JSON text. Each store reads its row
 * into these columns and its own hold flag.
 */
export interface ResultColumns {
  task_id: string;
  status: StoredState;
  result: string | null;
  traceback: string | null;
  children: string | null;
  date_done: number | null;
  expires_at: number | null;
  tier: string | null;
  action: RetentionAction;
  name: string | null;
  args: string | null;
  kwargs: string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

/** A JSON column's text; null for absent values. */
export function jsonColumn(value: unknown): string | null {
  return value === undefined || value === null ? null : stringifyCeleryJson(value);
}

/** A JSON column read back (lossless: bigints beyond 2^53 stay exact). */
export function parseJsonColumn<T>(text: string | null): T | null {
  if (text === null) return null;
  // Most results have no children: skip the parser for them.
  return (text === "[]" ? [] : parseCeleryJson(text)) as T;
}

/** The stored result a row's columns hold. */
export function storedFromColumns(row: ResultColumns, held: boolean): StoredResult {
  return {
    taskId: row.task_id,
    status: row.status,
    result: parseJsonColumn(row.result),
    traceback: row.traceback,
    children: parseJsonColumn<unknown[]>(row.children) ?? [],
    dateDone: row.date_done,
    expiresAt: row.expires_at,
    tier: row.tier,
    action: row.action,
    held,
    name: row.name,
    args: parseJsonColumn<unknown[]>(row.args),
    kwargs: parseJsonColumn<Record<string, unknown>>(row.kwargs),
    worker: row.worker,
    retries: row.retries,
    queue: row.queue,
  };
}
