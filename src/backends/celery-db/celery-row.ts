import { ProtocolError } from "../../errors.js";
import { dumpsCeleryJson, parseCeleryJson } from "../../protocol/celery-json.js";
import { parseCeleryTime, toCeleryNaive } from "../../protocol/timestamps.js";
import { isStoredState } from "../../states.js";
import type { StoredResult } from "../result-backend.js";
import type { ResultRecord } from "../retention-store.js";

/**
 * One celery_taskmeta row as both drivers return it (celery_db_schema: reference/celery/
 * db_schema_sqlite.sql, db_schema_postgres_pg_dump.sql). date_done is DATETIME / timestamp
 * WITHOUT time zone holding naive UTC (Celery writes datetime.utcnow()); drivers hand it over as
 * text so no session or process time zone can shift it (db_cleanup_session_timezone_effect.txt).
 */
export interface CeleryRow {
  id: number;
  task_id: string;
  status: string;
  /** The pickle Celery's PickleType column holds. Never unpickled. */
  result: Buffer | null;
  /** "YYYY-MM-DD HH:MM:SS[.ffffff]", naive UTC; null for STARTED/RETRY (not done). */
  date_done: string | null;
  traceback: string | null;
  /** Extended columns (result_extended=True); null when the table or the row has none. args/kwargs are JSON bytes. */
  name: string | null;
  args: Buffer | string | null;
  kwargs: Buffer | string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
  /** octet_length of result + traceback + args + kwargs. */
  bytes: number;
  held: boolean | number;
  archived: boolean | number;
}

/** What a row is re-checked by inside remove()'s transaction. */
export type CheckRow = Pick<CeleryRow, "id" | "task_id" | "status" | "date_done"> & { held: boolean };

/** A row to write (put): the pickle bytes as read, and the extended fields Celery would write. */
export type NewRow = Omit<CeleryRow, "id" | "bytes" | "held" | "archived" | "args" | "kwargs"> & {
  result: Buffer;
  args: Buffer | null;
  kwargs: Buffer | null;
};

export function parseDateDone(text: string | null, where: string): number | null {
  return text === null ? null : parseCeleryTime(text, where);
}

/** Epoch ms → the text SQLAlchemy stores for a DATETIME ("2026-11-24 02:08:19.545934"). */
export function dateDoneText(ms: number): string {
  return toCeleryNaive(ms).replace("T", " ");
}

/**
 * The record for a row. The result stays a pickle: `result` is {"pickle_base64": "..."} so it can be
 * shown and archived as JSON, and resultPickleBase64 carries the same bytes for restore. Rows carry
 * no expiry; with Celery's result_expires known, a row expires that long after its date_done.
 */
export function rowToRecord(row: CeleryRow, where: string, resultExpiresMs: number | null): ResultRecord {
  if (!isStoredState(row.status))
    throw new ProtocolError(
      `Row ${row.task_id} in ${where} has status ${JSON.stringify(row.status)}; expected one of Celery's states such as "SUCCESS"`,
    );
  const dateDone = parseDateDone(row.date_done, `date_done of ${row.task_id} in ${where}`);
  const pickle = row.result === null ? null : Buffer.from(row.result).toString("base64");
  return {
    taskId: row.task_id,
    status: row.status,
    result: pickle === null ? null : { pickle_base64: pickle },
    traceback: row.traceback,
    children: [],
    dateDone,
    expiresAt: dateDone === null || resultExpiresMs === null ? null : dateDone + resultExpiresMs,
    tier: null,
    action: "delete",
    held: Boolean(row.held),
    name: row.name,
    args: jsonColumn<unknown[]>(row.args),
    kwargs: jsonColumn<Record<string, unknown>>(row.kwargs),
    worker: row.worker,
    retries: row.retries,
    queue: row.queue,
    bytes: Number(row.bytes),
    origin: "celery",
    archived: Boolean(row.archived),
    ...(pickle === null ? {} : { resultPickleBase64: pickle }),
  };
}

/** The row put() writes for a result read from such a table; null when it has no pickle to write. */
export function recordToRow(result: StoredResult): NewRow | null {
  const pickle = (result as Partial<ResultRecord>).resultPickleBase64;
  if (typeof pickle !== "string") return null;
  return {
    task_id: result.taskId,
    status: result.status,
    result: Buffer.from(pickle, "base64"),
    date_done: result.dateDone === null ? null : dateDoneText(result.dateDone),
    traceback: result.traceback,
    name: result.name ?? null,
    // Celery encodes args/kwargs with the result serializer (JSON), as Python's json.dumps writes it.
    args: result.args == null ? null : Buffer.from(dumpsCeleryJson(result.args)),
    kwargs: result.kwargs == null ? null : Buffer.from(dumpsCeleryJson(result.kwargs)),
    worker: result.worker ?? null,
    retries: result.retries ?? null,
    queue: result.queue ?? null,
  };
}

/** args/kwargs: JSON when Celery's result serializer was JSON; anything else (a pickle) reads as null. */
function jsonColumn<T>(value: Buffer | string | null): T | null {
  if (value === null) return null;
  try {
    return parseCeleryJson(typeof value === "string" ? value : Buffer.from(value).toString("utf8")) as T;
  } catch {
    return null;
  }
}
