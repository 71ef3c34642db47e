import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { ProtocolError } from "../errors.js";
import { dumpsCeleryJson, parseCeleryJson, stringifyCeleryJson } from "./celery-json.js";
import { compressBody, decompressBody } from "./compression.js";
import { parseCeleryTime, toCeleryAware } from "./timestamps.js";
import type { TransportMessage } from "./transport-message.js";
import { newTaskId } from "./task-id.js";

/**
 * Celery message protocol v2 with a JSON body, as Celery's as_task_v2 builds it: headers,
 * properties and the body [args, kwargs, embed]. This module maps TaskMessage to and from a
 * TransportMessage; how a transport frames one (kombu's Redis envelope, base64 and all) is the
 * transport's business (src/brokers/redis/kombu-envelope.ts).
 *
 *   headers     {lang, task, id, shadow, eta, expires, group, group_index, retries, timelimit,
 *                root_id, parent_id, argsrepr, kwargsrepr, origin, ignore_result}
 *               timelimit is [hard, soft] in seconds, each a number or null (Celery's
 *               apply_async(time_limit=, soft_time_limit=)); 0 means none, as in Celery
 *   properties  {correlation_id, reply_to, delivery_mode, priority}
 *   body        UTF-8 JSON [args, kwargs, embed], content type application/json
 *
 * Ebb's own options travel in extra headers that Celery ignores:
 *   ebb_result_expires_ms  number | null   per-call result lifetime (null = never)
 *   ebb_ignore_result      boolean         explicit per-call ignore-result, either way
 *
 * kombu's headers.compression (src/protocol/compression.ts) is honoured both ways: a compressed
 * body is decompressed before it is read, and a message with `compression` is sent compressed.
 */
export interface Embed {
  callbacks: unknown;
  errbacks: unknown;
  chain: unknown;
  chord: unknown;
}

export interface TaskMessage {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  /** Epoch ms; do not run before. */
  eta: number | null;
  /** Epoch ms; do not start after (message expiry, not result expiry). */
  expires: number | null;
  retries: number;
  rootId: string;
  parentId: string | null;
  group: string | null;
  /** Place in its group (Celery's group_index header): orders a chord's results. Absent = null. */
  groupIndex?: number | null;
  /** Celery's header; true means the caller asked not to store the result. */
  ignoreResult: boolean;
  priority: number;
  queue: string;
  /** Hard time limit from headers.timelimit[0], in ms; null when the message sets none. */
  timeLimitMs: number | null;
  /** Soft time limit from headers.timelimit[1], in ms; null when the message sets none. */
  softTimeLimitMs: number | null;
  /** Per-call result lifetime from an Ebb client; undefined when not given. */
  resultExpiresMs?: number | null;
  /** Explicit per-call ignore-result from an Ebb client; undefined when not given. */
  ignoreResultOverride?: boolean;
  /**
   * kombu compression of the body: a name ("zlib", "gzip", "brotli") when sending, the
   * headers.compression a received message had (e.g. "application/x-gzip"); undefined: none.
   */
  compression?: string;
  /** The headers as received, so a retry can republish what it did not understand. */
  headers: Record<string, unknown>;
}

export type TaskMessageInput = Pick<TaskMessage, "task" | "args"> &
  Partial<Omit<TaskMessage, "task" | "args" | "headers">> & { headers?: Record<string, unknown> };

const EMPTY_EMBED: Embed = { callbacks: null, errbacks: null, chain: null, chord: null };
const ORIGIN = `${process.pid}@${hostname()}`;

/** Build a full message from what a caller gives, filling Celery's defaults. */
export function makeTaskMessage(input: TaskMessageInput): TaskMessage {
  const id = input.id ?? newTaskId();
  return {
    id,
    task: input.task,
    args: input.args,
    kwargs: input.kwargs ?? {},
    embed: input.embed ?? EMPTY_EMBED,
    eta: input.eta ?? null,
    expires: input.expires ?? null,
    retries: input.retries ?? 0,
    rootId: input.rootId ?? id,
    parentId: input.parentId ?? null,
    group: input.group ?? null,
    ...(input.groupIndex !== undefined && input.groupIndex !== null ? { groupIndex: input.groupIndex } : {}),
    ignoreResult: input.ignoreResult ?? false,
    priority: input.priority ?? 0,
    queue: input.queue ?? "celery",
    timeLimitMs: input.timeLimitMs ?? null,
    softTimeLimitMs: input.softTimeLimitMs ?? null,
    ...(input.resultExpiresMs !== undefined ? { resultExpiresMs: input.resultExpiresMs } : {}),
    ...(input.ignoreResultOverride !== undefined ? { ignoreResultOverride: input.ignoreResultOverride } : {}),
    ...(input.compression !== undefined ? { compression: input.compression } : {}),
    headers: input.headers ?? {},
  };
}

/** TaskMessage → the message a broker carries. */
export function encodeTaskMessage(m: TaskMessage): TransportMessage {
  // Headers carried over from a received message (a retry) keep what Ebb does not understand,
  // but not the delivery state of the old message.
  const { redelivered: _redelivered, compression: _compression, ...carried } = m.headers;
  const headers: Record<string, unknown> = {
    ...carried,
    lang: "js",
    task: m.task,
    id: m.id,
    shadow: null,
    eta: m.eta === null ? null : toCeleryAware(m.eta),
    expires: m.expires === null ? null : toCeleryAware(m.expires),
    group: m.group,
    group_index: m.groupIndex ?? null,
    retries: m.retries,
    timelimit: [seconds(m.timeLimitMs), seconds(m.softTimeLimitMs)],
    root_id: m.rootId,
    parent_id: m.parentId,
    argsrepr: safeRepr(m.args),
    kwargsrepr: safeRepr(m.kwargs),
    origin: ORIGIN,
    ignore_result: m.ignoreResult,
  };
  if (m.resultExpiresMs !== undefined) headers.ebb_result_expires_ms = m.resultExpiresMs;
  if (m.ignoreResultOverride !== undefined) headers.ebb_ignore_result = m.ignoreResultOverride;
  let body: Buffer = Buffer.from(dumpsCeleryJson([m.args, m.kwargs, m.embed]), "utf8");
  if (m.compression !== undefined) {
    // As kombu's Producer._prepare: compress the serialized body, name the method in headers.compression.
    const compressed = compressBody(body, m.compression);
    body = compressed.body;
    headers.compression = compressed.header;
  }
  return {
    headers,
    properties: { correlation_id: m.id, reply_to: randomUUID(), delivery_mode: 2, priority: m.priority },
    body,
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}

/**
 * A received TransportMessage → TaskMessage; `queue` is the queue it was delivered from (where a
 * retry goes back to). Throws ProtocolError saying what is wrong.
 */
export function decodeTaskMessage(transport: TransportMessage, queue: string): TaskMessage {
  const { contentType, headers, properties } = transport;
  if (contentType !== "application/json") {
    throw new ProtocolError(
      `Message content-type is ${JSON.stringify(contentType)}; Ebb accepts only "application/json" (set task_serializer="json" on the sender; pickle is never accepted)`,
    );
  }
  if (typeof headers.task !== "string") {
    throw new ProtocolError(
      `Message has no headers.task; Ebb speaks Celery message protocol v2 (task_protocol=2), got ${Object.keys(headers).length > 0 ? "headers without a task name" : "no headers (protocol v1?)"}`,
    );
  }
  const id = headers.id;
  if (typeof id !== "string" || id.length === 0) throw new ProtocolError(`Message for task "${headers.task}" has no headers.id`);
  const compressed = headers.compression !== undefined && headers.compression !== null;
  const body = decodeBody(compressed ? decompressBody(transport.body, headers.compression, headers.task) : transport.body, headers.task);
  const message: TaskMessage = {
    id,
    task: headers.task,
    args: body.args,
    kwargs: body.kwargs,
    embed: body.embed,
    eta: optionalTime(headers.eta, "headers.eta"),
    expires: optionalTime(headers.expires, "headers.expires"),
    retries: typeof headers.retries === "number" ? headers.retries : 0,
    rootId: typeof headers.root_id === "string" ? headers.root_id : id,
    parentId: typeof headers.parent_id === "string" ? headers.parent_id : null,
    group: typeof headers.group === "string" ? headers.group : null,
    ...(Number.isInteger(headers.group_index) ? { groupIndex: headers.group_index as number } : {}),
    ignoreResult: headers.ignore_result === true,
    priority: typeof properties.priority === "number" ? properties.priority : 0,
    queue,
    ...timeLimits(headers.timelimit, id),
    headers,
  };
  if ("ebb_result_expires_ms" in headers) {
    const v = headers.ebb_result_expires_ms;
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) {
      throw new ProtocolError(`Message ${id} has headers.ebb_result_expires_ms ${JSON.stringify(v)}; expected a number of ms >= 0 or null`);
    }
    message.resultExpiresMs = v;
  }
  if (typeof headers.ebb_ignore_result === "boolean") message.ignoreResultOverride = headers.ebb_ignore_result;
  // A retry goes out compressed as it came.
  if (compressed) message.compression = String(headers.compression);
  return message;
}

function decodeBody(body: Buffer, task: string): { args: unknown[]; kwargs: Record<string, unknown>; embed: Embed } {
  const text = body.toString("utf8");
  let parsed: unknown;
  try {
    parsed = parseCeleryJson(text);
  } catch (cause) {
    throw new ProtocolError(`Message body for task "${task}" is not JSON`, { cause });
  }
  if (!Array.isArray(parsed) || parsed.length < 2 || !Array.isArray(parsed[0]) || !isObject(parsed[1])) {
    throw new ProtocolError(`Message body for task "${task}" is not [args, kwargs, embed] (protocol v2)`);
  }
  const embed = isObject(parsed[2]) ? { ...EMPTY_EMBED, ...parsed[2] } : EMPTY_EMBED;
  return { args: parsed[0], kwargs: parsed[1], embed };
}

/** headers.timelimit [hard, soft] (seconds) → ms. 0 or null is "none", as Celery's `limit or default`. */
function timeLimits(value: unknown, id: string): { timeLimitMs: number | null; softTimeLimitMs: number | null } {
  if (value === null || value === undefined) return { timeLimitMs: null, softTimeLimitMs: null };
  const bad = () =>
    new ProtocolError(
      `Message ${id} has headers.timelimit ${JSON.stringify(value)}; expected [hard, soft] in seconds, each a number >= 0 or null (Celery's apply_async(time_limit=, soft_time_limit=))`,
    );
  if (!Array.isArray(value) || value.length !== 2) throw bad();
  const [hard, soft] = value.map((v: unknown) => {
    if (v === null || v === 0) return null;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw bad();
    return Math.max(1, Math.round(v * 1000));
  });
  return { timeLimitMs: hard ?? null, softTimeLimitMs: soft ?? null };
}

function seconds(ms: number | null): number | null {
  return ms === null ? null : ms / 1000;
}

function optionalTime(value: unknown, field: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw new ProtocolError(`Expected ${field} to be an ISO timestamp or null, got ${JSON.stringify(value)}`);
  return parseCeleryTime(value, field);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function safeRepr(v: unknown): string {
  const s = stringifyCeleryJson(v);
  return s.length > 1024 ? `${s.slice(0, 1021)}...` : s;
}
