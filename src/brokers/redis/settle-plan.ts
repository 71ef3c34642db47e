import { deadLetterEntry } from "./dead-letters.js";
import { parseUnacked, requeueOf } from "./envelope.js";
import type { RedisKeys } from "./keys.js";

export type SettleKind = "ack" | "push" | "mark" | "dead";

/** One lease to settle: see add(). */
export interface SettleEntry {
  field: string;
  score: string;
  kind: SettleKind;
  payload?: string;
  lists?: readonly string[];
}

/** Which queues a message published to (exchange, routing key) goes to. */
export type QueueLookup = (exchange: string, routingKey: string) => Promise<string[]>;

/** The KEYS and ARGV of one call of scripts/settle-4+.lua, built one lease at a time. */
export class SettlePlan {
  readonly keys: string[];
  readonly args: string[] = [];
  readonly kinds: SettleKind[] = [];
  readonly #targets = new Map<string, number>();

  constructor(private readonly redisKeys: RedisKeys) {
    this.keys = [redisKeys.unacked, redisKeys.unackedIndex, redisKeys.redelivered, redisKeys.deadLetters];
  }

  /** Settle `field` if its score is still `score`; push/mark RPUSH payload onto `lists`. */
  add(field: string, score: string, kind: SettleKind, payload = "", lists: readonly string[] = []): void {
    this.kinds.push(kind);
    this.args.push(field, score, kind, payload, lists.map((l) => this.#target(l)).join(","));
  }

  /**
   * Plan putting back one expired unacked entry, as kombu's restore_by_tag does: an index entry
   * without a hash value is just removed; a message goes back (flagged redelivered) onto the
   * list for its priority in every queue its exchange and routing key lead to. What kombu would
   * drop with a log line (a value that is not [message, exchange, routing_key], a routing key
   * no queue is bound to) is dead-lettered here instead, so it is kept.
   */
  async addRestore(field: string, score: string, value: string | null, nowMs: number, queuesOf: QueueLookup): Promise<void> {
    if (value === null) return this.add(field, score, "ack");
    const entry = parseUnacked(value);
    if (!entry) {
      const reason = "unacked entry is not JSON [message, exchange, routing_key]; kept here instead of restored";
      return this.add(field, score, "dead", deadLetterEntry(value, "", reason, nowMs));
    }
    const queues = entry.exchange === "" ? [entry.routingKey] : await queuesOf(entry.exchange, entry.routingKey);
    const requeue = requeueOf(entry.message);
    if (queues.length === 0) {
      const reason = `no queue is bound to exchange ${JSON.stringify(entry.exchange)} with routing key ${JSON.stringify(entry.routingKey)}; kept here instead of restored`;
      return this.add(field, score, "dead", deadLetterEntry(requeue.payload, entry.routingKey, reason, nowMs));
    }
    const lists = queues.map((q) => this.redisKeys.list(q, requeue.priority ?? 0));
    this.add(field, score, requeue.mark ? "mark" : "push", requeue.payload, lists);
  }

  #target(list: string): number {
    let i = this.#targets.get(list);
    if (i === undefined) {
      this.keys.push(list);
      i = this.keys.length - 4;
      this.#targets.set(list, i);
    }
    return i;
  }
}
