import { parseCeleryJson } from "../protocol/celery-json.js";
import type { ResultRecord } from "../backends/retention-store.js";
import type { RetentionAction, StoredResult } from "../backends/result-backend.js";
import { parseCeleryTime, toCeleryAware } from "../protocol/timestamps.js";
import { isStoredState, type StoredState } from "../states.js";

/**
 * One archived result: one line of an archive, JSON. Field names follow Celery's result meta
 * (snake_case) so Python tools read archives too. `result` is the JSON value itself, never
 * str(result) as the guide's script wrote; a row from Celery's database table carries its
 * pickle as `result_pickle_base64` instead (never unpickled). Instants are ISO 8601 UTC with
 * 6 fractional digits, as Celery writes them, so microseconds survive the round trip.
 */
export interface ArchiveLine {
  task_id: string;
  name: string | null;
  status: StoredState;
  result?: unknown;
  result_pickle_base64?: string;
  date_done: string | null;
  worker: string | null;
  retries: number | null;
  expires_at: string | null;
  tier: string | null;
  archived_at: string;
  traceback: string | null;
  args: unknown[] | null;
  kwargs: Record<string, unknown> | null;
  children: unknown[];
  origin: "ebb" | "celery";
  /** Beyond the brief's list: restore needs them to put the result back as it was. */
  action: RetentionAction;
  queue: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : toCeleryAware(ms));

/** `archivedAt` is the run's instant, already ISO (one per run, not one per line). */
export function toArchiveLine(r: ResultRecord, archivedAt: string): ArchiveLine {
  // One literal, `result` right after `status` as in Celery's meta. (Spreading parts together
  // made this the slowest step of an archive run.)
  const line: ArchiveLine = {
    task_id: r.taskId,
    name: r.name ?? null,
    status: r.status,
    result: r.result ?? null,
    date_done: iso(r.dateDone),
    worker: r.worker ?? null,
    retries: r.retries ?? null,
    expires_at: iso(r.expiresAt),
    tier: r.tier,
    archived_at: archivedAt,
    traceback: r.traceback,
    args: r.args ?? null,
    kwargs: r.kwargs ?? null,
    children: r.children ?? [],
    origin: r.origin,
    action: r.action,
    queue: r.queue ?? null,
  };
  if (r.resultPickleBase64 === undefined) return line;
  // Celery's database rows: the pickle's bytes in place of a JSON result, same position.
  const { task_id, name, status, result: _none, ...rest } = line;
  return { task_id, name, status, result_pickle_base64: r.resultPickleBase64, ...rest };
}

/** A line checked and its instants read (epoch ms), so nothing downstream parses them again. */
export interface ParsedLine {
  line: ArchiveLine;
  dateDone: number | null;
  expiresAt: number | null;
}

/** Parse and check one line. Only what restore relies on is checked; unknown extra fields are kept. */
export function parseArchiveLine(text: string): { ok: true; parsed: ParsedLine } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = parseCeleryJson(text);
  } catch (e) {
    return { ok: false, message: `not JSON (${(e as Error).message})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, message: "not a JSON object" };
  const v = value as Record<string, unknown>;
  if (typeof v.task_id !== "string" || v.task_id.length === 0) return { ok: false, message: "missing task_id" };
  if (!isStoredState(v.status)) return { ok: false, message: `task ${v.task_id}: bad status ${JSON.stringify(v.status)}` };
  if (!("result" in v) && typeof v.result_pickle_base64 !== "string") return { ok: false, message: `task ${v.task_id}: no result` };
  try {
    return {
      ok: true,
      parsed: {
        line: v as unknown as ArchiveLine,
        dateDone: instant(v.date_done, "date_done"),
        expiresAt: instant(v.expires_at, "expires_at"),
      },
    };
  } catch (e) {
    return { ok: false, message: `task ${v.task_id}: ${(e as Error).message}` };
  }
}

/** What toCeleryAware writes; read on a fast path (archives hold millions of them), anything else by parseCeleryTime. */
const OWN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

function instant(t: unknown, field: string): number | null {
  if (t === null || t === undefined) return null;
  if (typeof t !== "string") return parseCeleryTime(JSON.stringify(t), field);
  if (t.length === 32 && OWN.test(t)) {
    const seconds = Date.parse(`${t.slice(0, 19)}Z`);
    // Date.parse rolls Feb 30 over to March; parseCeleryTime rejects it, and so does this check.
    if (!Number.isNaN(seconds) && new Date(seconds).getUTCDate() === Number(t.slice(8, 10)))
      return seconds + Number(t.slice(20, 26)) / 1000;
  }
  // Same arithmetic as the fast path (seconds + micros / 1000), so both give the same double.
  return parseCeleryTime(t, field);
}

/** The stored result a line describes, with the lifetime the caller decides (restore). */
export function lineToStoredResult(p: ParsedLine, expiresAt: number | null): StoredResult {
  const line = p.line;
  return {
    taskId: line.task_id,
    status: line.status,
    result: line.result ?? null,
    traceback: line.traceback ?? null,
    children: line.children ?? [],
    dateDone: p.dateDone,
    expiresAt,
    tier: line.tier ?? null,
    action: line.action === "archive" ? "archive" : "delete",
    held: false,
    name: line.name ?? null,
    args: line.args ?? null,
    kwargs: line.kwargs ?? null,
    worker: line.worker ?? null,
    retries: line.retries ?? null,
    queue: line.queue ?? null,
  };
}

/** The record a line was written from, as remove() needs it to re-check "still the same result" (status, dateDone, expiresAt). */
export function lineToRecord(p: ParsedLine): ResultRecord {
  const record = lineToStoredResult(p, p.expiresAt) as ResultRecord;
  record.bytes = 0;
  record.origin = p.line.origin === "celery" ? "celery" : "ebb";
  record.archived = true;
  if (p.line.result_pickle_base64 !== undefined) record.resultPickleBase64 = p.line.result_pickle_base64;
  return record;
}
