import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { ProtocolError } from "../errors.js";
import { pythonJsonDumps } from "./python-json.js";
import { parseCeleryTime, toCeleryAware } from "./timestamps.js";

/**
 * Celery message protocol v2, JSON body, in the kombu envelope that the Redis transport stores
 * (reference/celery/broker_messages/*.raw.json):
 *
 *   {"body": base64(JSON [args, kwargs, embed]), "content-encoding": "utf-8",
 *    "content-type": "application/json", "headers": {task, id, eta, expires, retries, ...},
 *    "properties": {correlation_id, reply_to, delivery_mode, delivery_info, priority,
 *                   body_encoding: "base64", delivery_tag}}
 *
 * Ebb's own options travel in extra headers that Celery ignores:
 *   ebb_result_expires_ms  number | null   per-call result lifetime (null = never)
 *   ebb_ignore_result      boolean         explicit per-call ignore-result, either way
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
  /** Celery's header; true means the caller asked not to store the result. */
  ignoreResult: boolean;
  priority: number;
  queue: string;
  /** Per-call result lifetime from an Ebb client; undefined when not given. */
  resultExpiresMs?: number | null;
  /** Explicit per-call ignore-result from an Ebb client; undefined when not given. */
  ignoreResultOverride?: boolean;
  /** The headers as received, so a retry can republish what it did not understand. */
  headers: Record<string, unknown>;
}

export type TaskMessageInput = Pick<TaskMessage, "task" | "args"> &
  Partial<Omit<TaskMessage, "task" | "args" | "headers">> & { headers?: Record<string, unknown> };

const EMPTY_EMBED: Embed = { callbacks: null, errbacks: null, chain: null, chord: null };
const ORIGIN = `${process.pid}@${hostname()}`;

/** Build a full message from what a caller gives, filling Celery's defaults. */
export function makeTaskMessage(input: TaskMessageInput): TaskMessage {
  const id = input.id ?? randomUUID();
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
    ignoreResult: input.ignoreResult ?? false,
    priority: input.priority ?? 0,
    queue: input.queue ?? "celery",
    ...(input.resultExpiresMs !== undefined ? { resultExpiresMs: input.resultExpiresMs } : {}),
    ...(input.ignoreResultOverride !== undefined ? { ignoreResultOverride: input.ignoreResultOverride } : {}),
    headers: input.headers ?? {},
  };
}

/** TaskMessage → the envelope string a broker stores. */
export function encodeTaskMessage(m: TaskMessage): string {
  const body = Buffer.from(pythonJsonDumps([m.args, m.kwargs, m.embed]), "utf8").toString("base64");
  // Headers carried over from a received message (a retry) keep what Ebb does not understand,
  // but not the delivery state of the old message.
  const { redelivered: _redelivered, ...carried } = m.headers;
  const headers: Record<string, unknown> = {
    ...carried,
    lang: "js",
    task: m.task,
    id: m.id,
    shadow: null,
    eta: m.eta === null ? null : toCeleryAware(m.eta),
    expires: m.expires === null ? null : toCeleryAware(m.expires),
    group: m.group,
    group_index: null,
    retries: m.retries,
    timelimit: [null, null],
    root_id: m.rootId,
    parent_id: m.parentId,
    argsrepr: safeRepr(m.args),
    kwargsrepr: safeRepr(m.kwargs),
    origin: ORIGIN,
    ignore_result: m.ignoreResult,
  };
  if (m.resultExpiresMs !== undefined) headers.ebb_result_expires_ms = m.resultExpiresMs;
  if (m.ignoreResultOverride !== undefined) headers.ebb_ignore_result = m.ignoreResultOverride;
  return pythonJsonDumps({
    body,
    "content-encoding": "utf-8",
    "content-type": "application/json",
    headers,
    properties: {
      correlation_id: m.id,
      reply_to: randomUUID(),
      delivery_mode: 2,
      delivery_info: { exchange: "", routing_key: m.queue },
      priority: m.priority,
      body_encoding: "base64",
      delivery_tag: randomUUID(),
    },
  });
}

/** The envelope string → TaskMessage. Throws ProtocolError saying what is wrong. */
export function decodeTaskMessage(raw: string): TaskMessage {
  const envelope = parseJsonObject(raw, "message");
  const contentType = envelope["content-type"];
  if (contentType !== "application/json") {
    throw new ProtocolError(`Message content-type is ${JSON.stringify(contentType)}; Ebb accepts only "application/json" (set task_serializer="json" on the sender; pickle is never accepted)`);
  }
  const headers = envelope.headers;
  if (!isObject(headers) || typeof headers.task !== "string") {
    throw new ProtocolError(`Message has no headers.task; Ebb speaks Celery message protocol v2 (task_protocol=2), got ${isObject(headers) ? "headers without a task name" : "no headers (protocol v1?)"}`);
  }
  const id = headers.id;
  if (typeof id !== "string" || id.length === 0) throw new ProtocolError(`Message for task "${headers.task}" has no headers.id`);
  const properties = isObject(envelope.properties) ? envelope.properties : {};
  const body = decodeBody(envelope.body, properties.body_encoding, headers.task);
  const deliveryInfo = isObject(properties.delivery_info) ? properties.delivery_info : {};
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
    ignoreResult: headers.ignore_result === true,
    priority: typeof properties.priority === "number" ? properties.priority : 0,
    queue: typeof deliveryInfo.routing_key === "string" && deliveryInfo.routing_key ? deliveryInfo.routing_key : "celery",
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
  return message;
}

function decodeBody(body: unknown, encoding: unknown, task: string): { args: unknown[]; kwargs: Record<string, unknown>; embed: Embed } {
  if (typeof body !== "string") throw new ProtocolError(`Message for task "${task}" has no string body`);
  const text = encoding === "base64" ? Buffer.from(body, "base64").toString("utf8") : body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError(`Message body for task "${task}" is not JSON`, { cause });
  }
  if (!Array.isArray(parsed) || parsed.length < 2 || !Array.isArray(parsed[0]) || !isObject(parsed[1])) {
    throw new ProtocolError(`Message body for task "${task}" is not [args, kwargs, embed] (protocol v2)`);
  }
  const embed = isObject(parsed[2]) ? { ...EMPTY_EMBED, ...parsed[2] } : EMPTY_EMBED;
  return { args: parsed[0], kwargs: parsed[1], embed };
}

function optionalTime(value: unknown, field: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw new ProtocolError(`Expected ${field} to be an ISO timestamp or null, got ${JSON.stringify(value)}`);
  return parseCeleryTime(value, field);
}

function parseJsonObject(raw: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new ProtocolError(`The ${what} is not JSON (starts ${JSON.stringify(raw.slice(0, 40))})`, { cause });
  }
  if (!isObject(parsed)) throw new ProtocolError(`The ${what} is JSON but not an object`);
  return parsed;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function safeRepr(v: unknown): string {
  const s = JSON.stringify(v) ?? "";
  return s.length > 1024 ? `${s.slice(0, 1021)}...` : s;
}
