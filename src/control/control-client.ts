import type { Broker } from "../brokers/broker.js";
import { ConfigError } from "../errors.js";
import type { BrokerControl } from "./broker-control.js";
import type { ControlReply } from "./control-request.js";

export interface ControlCallOptions {
  /** Only these node names (e.g. ["celery@host", "ebb-12@host"]); default every node. */
  destination?: string[];
  /** How long to wait for replies. Default 1000 ms (Celery's 1 s). */
  timeoutMs?: number;
  /** Stop waiting after this many replies. Default: the number of destinations, else none. */
  limit?: number;
}

export interface RevokeOptions extends ControlCallOptions {
  /** Also end the task where it is running: its currentTask().signal aborts and REVOKED is stored. */
  terminate?: boolean;
  /** The signal Celery's workers send the process with terminate. Default "SIGTERM". */
  signal?: string;
  /** Wait timeoutMs for the workers' acknowledgements (returned). Default false: send and return {}. */
  reply?: boolean;
}

/** Replies by node name: {"celery@host": {"ok": "pong"}, "ebb-12@host": {...}}. */
export type NodeReplies<T = unknown> = Record<string, T>;

/**
 * Celery's remote control client (celery/app/control.py Control and Inspect) for Ebb: it reaches
 * Ebb and Python workers alike through the broker's control transport (broker.control).
 */
export class Control {
  readonly #broker: () => Promise<Broker>;

  constructor(broker: () => Promise<Broker>) {
    this.#broker = broker;
  }

  /** Send any command; with reply, wait for the nodes' answers. */
  async broadcast(
    method: string,
    args: Record<string, unknown> = {},
    options: ControlCallOptions & { reply?: boolean } = {},
  ): Promise<NodeReplies> {
    const control = await this.#transport();
    const destination = options.destination && options.destination.length > 0 ? options.destination : null;
    const timeoutMs = options.timeoutMs ?? 1_000;
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0))
      throw new ConfigError(`Expected the remote control timeout to be a number of ms >= 0, got ${timeoutMs}`);
    const replies = await control.send(
      { method, arguments: args, destination, pattern: null, matcher: null },
      options.reply ? { timeoutMs, limit: options.limit ?? destination?.length ?? null } : null,
    );
    return flatten(replies);
  }

  ping(options: ControlCallOptions = {}): Promise<NodeReplies<{ ok: string }>> {
    return this.broadcast("ping", {}, { ...options, reply: true }) as Promise<NodeReplies<{ ok: string }>>;
  }

  /** Revoke tasks on every worker, Ebb or Python: a message for them arriving later ends REVOKED without running. */
  revoke(ids: string | string[], options: RevokeOptions = {}): Promise<NodeReplies> {
    const list = Array.isArray(ids) ? ids : [ids];
    if (list.length === 0 || list.some((id) => typeof id !== "string" || id === ""))
      throw new ConfigError(`Expected revoke() to get a task id or a list of them, got ${JSON.stringify(ids)}`);
    return this.broadcast(
      "revoke",
      { task_id: list.length === 1 ? list[0] : list, terminate: options.terminate ?? false, signal: options.signal ?? "SIGTERM" },
      { ...options, reply: options.reply ?? false },
    );
  }

  /** Stop workers warmly (they finish what is running). */
  shutdown(options: ControlCallOptions & { reply?: boolean } = {}): Promise<NodeReplies> {
    return this.broadcast("shutdown", {}, options);
  }

  enableEvents(options: ControlCallOptions & { reply?: boolean } = {}): Promise<NodeReplies> {
    return this.broadcast("enable_events", {}, options);
  }

  disableEvents(options: ControlCallOptions & { reply?: boolean } = {}): Promise<NodeReplies> {
    return this.broadcast("disable_events", {}, options);
  }

  /** What the workers know now: each method answers {node: reply}, {} when none replied in time. */
  inspect(options: ControlCallOptions = {}): Inspect {
    const ask = (method: string, args: Record<string, unknown> = {}) => this.broadcast(method, args, { ...options, reply: true });
    return {
      ping: () => ask("ping"),
      active: () => ask("active"),
      reserved: () => ask("reserved"),
      scheduled: () => ask("scheduled"),
      registered: () => ask("registered"),
      stats: () => ask("stats"),
      revoked: () => ask("revoked"),
      activeQueues: () => ask("active_queues"),
    };
  }

  async #transport(): Promise<BrokerControl> {
    const broker = await this.#broker();
    if (!broker.control)
      throw new ConfigError(
        `The broker ${broker.url} does not carry remote control, so nothing was sent: revoke, inspect and ping need a broker that carries it (redis://, sqlite:// or postgresql://, or memory:// within one process)`,
      );
    return broker.control;
  }
}

export interface Inspect {
  ping(): Promise<NodeReplies>;
  active(): Promise<NodeReplies>;
  reserved(): Promise<NodeReplies>;
  scheduled(): Promise<NodeReplies>;
  registered(): Promise<NodeReplies>;
  stats(): Promise<NodeReplies>;
  revoked(): Promise<NodeReplies>;
  activeQueues(): Promise<NodeReplies>;
}

/** [{a: x}, {b: y}] → {a: x, b: y} (Celery's flatten_reply); a node that answered twice keeps its first answer. */
function flatten(replies: ControlReply[]): NodeReplies {
  const out: NodeReplies = {};
  for (const r of replies) for (const [node, value] of Object.entries(r)) if (!(node in out)) out[node] = value;
  return out;
}
