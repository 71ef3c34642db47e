import type { TaskMessage } from "../protocol/task-message.js";
import { type ControlReply, type ControlRequest, isAddressedTo } from "./control-request.js";
import type { RevokedSet } from "./revoked-set.js";

/**
 * The commands an Ebb worker answers, with the reply shapes of Celery's worker
 * (celery/worker/control.py), so Python's `celery inspect` and app.control read them as their own.
 */
/** The read-only questions (`celery inspect …`, `ebb inspect …`). */
export const INSPECT_COMMANDS = [
  "ping",
  "active",
  "reserved",
  "scheduled",
  "registered",
  "stats",
  "revoked",
  "active_queues",
  "query_task",
  "conf",
] as const;

export const PANEL_COMMANDS = [...INSPECT_COMMANDS, "revoke", "terminate", "shutdown", "enable_events", "disable_events"] as const;

/** What the panel needs from a worker. */
export interface PanelTarget {
  /** The node name (Celery's hostname, e.g. "ebb-123@host"), which destinations name. */
  readonly hostname: string;
  readonly revoked: RevokedSet;
  /** Running tasks. */
  active(): TaskInfo[];
  /** Prefetched messages waiting for a slot. */
  reserved(): TaskInfo[];
  /** Messages held until their ETA. */
  scheduled(): ScheduledInfo[];
  /** Registered task names. */
  registered(): string[];
  stats(): Record<string, unknown>;
  /** Queues consumed, in order. */
  queues(): string[];
  /** The worker's settings under Celery's names (`inspect conf`, which Flower shows). */
  conf(): Record<string, unknown>;
  /** Abort a running task's signal so that it ends REVOKED("terminated"); false when it is not running here. */
  terminate(id: string, signal: string): boolean;
  /** Stop warmly, as SIGTERM does. */
  shutdown(): void;
  /** Turn task events on or off; true when that changed something. */
  setEventsEnabled(on: boolean): boolean;
}

/** Celery's Request.info(). */
export interface TaskInfo {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  type: string;
  hostname: string;
  /** Unix seconds when it started; null when it has not. */
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: { exchange: string; routing_key: string; priority: number; redelivered: boolean };
  worker_pid: number | null;
}

/** One entry of Celery's `inspect scheduled`. */
export interface ScheduledInfo {
  /** ISO 8601. */
  eta: string | null;
  priority: number;
  request: TaskInfo;
}

export function taskInfo(
  m: TaskMessage,
  hostname: string,
  opts: { startedAt: number | null; redelivered: boolean; acknowledged?: boolean },
): TaskInfo {
  return {
    id: m.id,
    name: m.task,
    args: m.args,
    kwargs: m.kwargs,
    type: m.task,
    hostname,
    time_start: opts.startedAt === null ? null : opts.startedAt / 1000,
    // Ebb acknowledges a message once its outcome is stored (Celery's acks_late).
    acknowledged: opts.acknowledged ?? false,
    delivery_info: { exchange: "", routing_key: m.queue, priority: m.priority, redelivered: opts.redelivered },
    worker_pid: opts.startedAt === null ? null : process.pid,
  };
}

/**
 * Handle one request on `target`: null when it is not addressed to this node, else the reply
 * {hostname: value}. A failing or unknown command answers {"error": ...} as Celery's does.
 */
export function handleControl(target: PanelTarget, request: ControlRequest): ControlReply | null {
  if (!isAddressedTo(request, target.hostname)) return null;
  let value: unknown;
  try {
    value = run(target, request.method, request.arguments);
  } catch (e) {
    value = { error: e instanceof Error ? e.message : String(e) };
  }
  return { [target.hostname]: value };
}

function run(t: PanelTarget, method: string, args: Record<string, unknown>): unknown {
  switch (method) {
    case "ping":
      return ok("pong");
    case "active":
    case "dump_active":
      return t.active();
    case "reserved":
    case "dump_reserved":
      return t.reserved();
    case "scheduled":
    case "dump_schedule":
      return t.scheduled();
    case "registered":
    case "dump_tasks":
      return t.registered().filter((name) => args.builtins === true || !name.startsWith("celery."));
    case "stats":
      return t.stats();
    case "revoked":
    case "dump_revoked":
      return t.revoked.ids();
    case "active_queues":
      return t.queues().map(queueInfo);
    case "query_task":
      return queryTask(t, args.ids);
    case "conf":
      return t.conf();
    case "revoke":
      return revoke(t, args.task_id, args.terminate === true, typeof args.signal === "string" ? args.signal : "SIGTERM");
    case "terminate":
      return revoke(t, args.task_id, true, typeof args.signal === "string" ? args.signal : "SIGTERM");
    case "shutdown":
      t.shutdown();
      return ok("shutting down: finishing the tasks in flight");
    case "enable_events":
      return ok(t.setEventsEnabled(true) ? "task events enabled" : "task events already enabled");
    case "disable_events":
      return ok(t.setEventsEnabled(false) ? "task events disabled" : "task events already disabled");
    default:
      return { error: `No such control command: ${JSON.stringify(method)}; Ebb workers answer ${PANEL_COMMANDS.join(", ")}` };
  }
}

/**
 * celery/worker/control.py query_task(): {id: [state, request info]} for the ids this worker
 * holds: "active" when running, "reserved" when prefetched or held for its ETA; others are left out.
 */
function queryTask(t: PanelTarget, ids: unknown): Record<string, [string, TaskInfo]> {
  const wanted = new Set((Array.isArray(ids) ? ids : [ids]).filter((id): id is string => typeof id === "string"));
  const out: Record<string, [string, TaskInfo]> = {};
  for (const info of [...t.reserved(), ...t.scheduled().map((s) => s.request)]) if (wanted.has(info.id)) out[info.id] = ["reserved", info];
  for (const info of t.active()) if (wanted.has(info.id)) out[info.id] = ["active", info];
  return out;
}

/** celery/worker/control.py revoke(): remember the ids, and with terminate end the running ones. */
function revoke(t: PanelTarget, taskId: unknown, terminate: boolean, signal: string): unknown {
  const ids = [...new Set((Array.isArray(taskId) ? taskId : [taskId]).filter((id): id is string => typeof id === "string"))];
  if (ids.length === 0) return { error: `revoke needs task_id: a task id or a list of them, got ${JSON.stringify(taskId)}` };
  t.revoked.add(ids);
  if (terminate) {
    const terminated = ids.filter((id) => t.terminate(id, signal));
    return ok(terminated.length === 0 ? "terminate: tasks unknown" : `terminate: ${terminated.join(", ")}`);
  }
  return ok(`tasks ${ids.join(", ")} flagged as revoked`);
}

function ok(value: string): { ok: string } {
  return { ok: value };
}

/** kombu's Queue.as_dict(recurse=True) for a Celery queue: a direct exchange of the same name. */
function queueInfo(name: string): Record<string, unknown> {
  return {
    name,
    exchange: {
      name,
      type: "direct",
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: name,
    queue_arguments: null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: null,
  };
}
