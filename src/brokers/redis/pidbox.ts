import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { BrokerControl, ControlCommand, ControlListener } from "../../control/broker-control.js";
import { parseRequestBody, REPLY_EXCHANGE, requestBody, type ControlReply, type ControlRequest } from "../../control/control-request.js";
import type { Logger } from "../../logger.js";
import type { TransportMessage } from "../../protocol/transport-message.js";
import { connectRedis } from "../../redis/connect.js";
import type { RedisTarget } from "../../redis/redis-url.js";
import { bindingKey, bindingMember, directLookup, readBindings } from "./kombu-bindings.js";
import { PRIORITY_STEPS, SEP } from "./keys.js";
import { frameKombuEnvelope, parseKombuEnvelope } from "./kombu-envelope.js";

/** Celery's control exchange (app.conf.control_exchange) and kombu's names around it (kombu/pidbox.py). */
const EXCHANGE = "celery.pidbox";

/**
 * Celery's remote control mailbox on kombu's Redis transport (kombu/pidbox.py Mailbox and Node,
 * kombu/transport/redis.py):
 *
 *   request  PUBLISH "/<db>.celery.pidbox" <kombu envelope of the JSON request>   (fanout: every
 *            worker subscribed at that moment gets it; workers PSUBSCRIBE the same name)
 *   reply    the sender SADDs "<oid>\x06\x16\x06\x16<oid>.reply.celery.pidbox" to
 *            _kombu.binding.reply.celery.pidbox and BRPOPs that list; a worker looks the
 *            routing key up in the binding set and LPUSHes {hostname: reply} onto each queue found
 *
 * Pub/sub is fire-and-forget, as in Celery: a worker not subscribed when a revoke is sent never
 * hears of it (delivery "live"). The URL's `prefix` goes in front of the channel and keys, as
 * kombu's global_keyprefix does for PUBLISH and the lists.
 */
export class RedisPidbox implements BrokerControl {
  readonly delivery = "live" as const;
  readonly #target: RedisTarget;
  readonly #client: () => Promise<Redis>;
  readonly #name: string;
  readonly #log: Logger | undefined;
  readonly #listeners = new Set<ControlListener>();

  constructor(opts: { target: RedisTarget; client: () => Promise<Redis>; connectionName: string; log?: Logger }) {
    this.#target = opts.target;
    this.#client = opts.client;
    this.#name = opts.connectionName;
    this.#log = opts.log;
  }

  /** The pub/sub channel: kombu's keyprefix_fanout "/{db}." + exchange (no routing key: Celery's mailbox sends none). */
  get channel(): string {
    return `${this.#target.prefix}/${this.#target.db}.${EXCHANGE}`;
  }

  async listen(onRequest: (request: ControlRequest) => Promise<ControlReply | null>): Promise<ControlListener> {
    const sub = await connectRedis(this.#target, { name: `${this.#name}-pidbox`, autoPipelining: false });
    sub.on("pmessage", (_pattern: string, _channel: string, raw: string) => void this.#onMessage(raw, onRequest));
    try {
      await sub.psubscribe(this.channel);
    } catch (e) {
      sub.disconnect();
      throw e;
    }
    const listener: ControlListener = {
      close: async () => {
        if (!this.#listeners.delete(listener)) return;
        await sub.quit().catch(() => sub.disconnect());
      },
    };
    this.#listeners.add(listener);
    return listener;
  }

  async send(command: ControlCommand, collect: { timeoutMs: number; limit: number | null } | null): Promise<ControlReply[]> {
    const client = await this.#client();
    if (!collect) {
      await client.publish(this.channel, this.#requestEnvelope({ ...command, ticket: null, replyTo: null }, 0));
      return [];
    }
    const oid = randomUUID();
    const ticket = randomUUID();
    const queue = `${oid}.${REPLY_EXCHANGE}`;
    const member = bindingMember({ routingKey: oid, pattern: "", queue });
    const binding = bindingKey(this.#target.prefix, REPLY_EXCHANGE);
    // A connection of its own for the blocking pops, so the broker's commands never wait behind them.
    const wait = await connectRedis(this.#target, { name: `${this.#name}-control-reply`, autoPipelining: false });
    try {
      await client.sadd(binding, member);
      const request: ControlRequest = { ...command, ticket, replyTo: { exchange: REPLY_EXCHANGE, routingKey: oid } };
      await client.publish(this.channel, this.#requestEnvelope(request, collect.timeoutMs));
      return await this.#collect(wait, `${this.#target.prefix}${queue}`, ticket, collect);
    } finally {
      wait.disconnect();
      const lists = PRIORITY_STEPS.map((step) => `${this.#target.prefix}${queue}${step === 0 ? "" : `${SEP}${step}`}`);
      await client
        .multi()
        .srem(binding, member)
        .del(...lists)
        .exec()
        .catch(() => undefined);
    }
  }

  /** Stop every listener (the broker is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.close()));
  }

  async #collect(wait: Redis, list: string, ticket: string, collect: { timeoutMs: number; limit: number | null }): Promise<ControlReply[]> {
    const replies: ControlReply[] = [];
    const deadline = performance.now() + collect.timeoutMs;
    while (collect.limit === null || replies.length < collect.limit) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      // BRPOP takes seconds (fractions since Redis 6); 0 would mean forever.
      const popped = await wait.brpop(list, Math.max(0.01, left / 1000));
      if (!popped) break;
      const reply = this.#readReply(popped[1], ticket);
      if (reply) replies.push(reply);
    }
    return replies;
  }

  #readReply(raw: string, ticket: string): ControlReply | null {
    try {
      const m = parseKombuEnvelope(raw);
      // A reply to an earlier request of the same client (kombu keeps those as "unclaimed") is not this one's.
      if (m.headers.ticket !== undefined && m.headers.ticket !== ticket) return null;
      const body = JSON.parse(m.body.toString("utf8")) as unknown;
      return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as ControlReply) : null;
    } catch (e) {
      this.#log?.warn(`Ignoring a remote control reply that is not a JSON kombu message: ${(e as Error).message}`);
      return null;
    }
  }

  async #onMessage(raw: string, onRequest: (request: ControlRequest) => Promise<ControlReply | null>): Promise<void> {
    let request: ControlRequest;
    try {
      const m = parseKombuEnvelope(raw);
      if (!m.contentType.includes("json"))
        throw new Error(`content type ${JSON.stringify(m.contentType)}; Ebb reads only JSON (set Celery's accept_content to json)`);
      request = parseRequestBody(JSON.parse(m.body.toString("utf8")));
    } catch (e) {
      this.#log?.warn(`Ignoring a remote control request on ${this.channel}: ${(e as Error).message}`);
      return;
    }
    try {
      const reply = await onRequest(request);
      if (reply && request.replyTo && request.ticket) await this.#reply(reply, request.replyTo, request.ticket);
    } catch (e) {
      this.#log?.error(`Remote control command ${JSON.stringify(request.method)} failed: ${(e as Error).message}`);
    }
  }

  /** kombu Mailbox._publish_reply: to every queue the reply exchange binds the routing key to; none bound = nobody waits. */
  async #reply(reply: ControlReply, to: { exchange: string; routingKey: string }, ticket: string): Promise<void> {
    const client = await this.#client();
    const queues = directLookup(await readBindings(client, this.#target.prefix, to.exchange), to.routingKey);
    if (queues.length === 0) return;
    const message = jsonMessage(reply, { ticket, clock: 0 }, 1);
    const pipeline = client.pipeline();
    for (const q of queues)
      pipeline.lpush(`${this.#target.prefix}${q}`, frameKombuEnvelope(message, to.routingKey, 0, randomUUID(), to.exchange));
    await pipeline.exec();
  }

  #requestEnvelope(request: ControlRequest, timeoutMs: number): string {
    // kombu's headers: its Lamport clock (Ebb keeps none: 0) and when the sender stops waiting (0 = not waiting).
    const headers = { clock: 0, expires: timeoutMs > 0 ? (Date.now() + timeoutMs) / 1000 : 0 };
    return frameKombuEnvelope(jsonMessage(requestBody(request), headers, 2), "", 0, randomUUID(), EXCHANGE);
  }
}

function jsonMessage(body: unknown, headers: Record<string, unknown>, deliveryMode: 1 | 2): TransportMessage {
  return {
    headers,
    properties: { delivery_mode: deliveryMode },
    body: Buffer.from(JSON.stringify(body), "utf8"),
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}
