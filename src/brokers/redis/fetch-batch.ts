import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { deliveryOf, type Delivery } from "../broker.js";
import { unackedTail } from "./envelope.js";
import { parseKombuEnvelope } from "./kombu-envelope.js";
import { PRIORITY_STEPS, toScore, type RedisKeys } from "./keys.js";
import type { Leases } from "./leases.js";
import { SCRIPTS } from "./scripts.js";

export interface BatchRequest {
  queues: readonly string[];
  /** keys.lists() of each queue, in order: PRIORITY_STEPS.length per queue. */
  lists: readonly string[];
  max: number;
  visibilityTimeoutMs: number;
  /** Epoch ms the leases are scored with. */
  now: number;
  /** Ask first whether the oldest lease is due (then nothing is popped and "due" comes back). */
  checkDue: boolean;
  /** The consumer's hand-off list for each of `lists`, same order: drained before its list. */
  inflight: readonly string[];
}

const PER_QUEUE = PRIORITY_STEPS.length;
/**
 * Messages per script call at most. A script blocks Redis while it runs: about 16 µs per
 * 860-byte envelope on the development machine, so 100 is ~1.6 ms. A larger `max` gets 100;
 * the worker simply fetches again.
 */
export const MAX_BATCH = 100;

/** One round trip of scripts/fetch-5+.lua: up to `max` messages popped and recorded as unacked, as Deliveries. */
export async function fetchBatch(client: Redis, keys: RedisKeys, leases: Leases, r: BatchRequest): Promise<Delivery[] | "due"> {
  const score = toScore(r.now);
  const tails = r.queues.map((q) => unackedTail("", q));
  const args: (string | number)[] = [
    Math.min(r.max, MAX_BATCH),
    score,
    r.checkDue ? toScore(r.now - r.visibilityTimeoutMs) : "",
    `ebb-${randomBytes(8).toString("hex")}-`,
    ...r.lists.map((_, i) => tails[Math.floor(i / PER_QUEUE)]!),
  ];
  const reply = (await SCRIPTS.fetch.run(client, [keys.unacked, keys.unackedIndex, keys.redelivered, ...r.lists, ...r.inflight], args)) as (
    | string
    | number
  )[];
  if (reply[0] === -1) return "due";
  const out: Delivery[] = [];
  for (let i = 0; i < reply.length; i += 4) {
    const listIndex = Number(reply[i]) - 1;
    const tag = leases.tagFor(String(reply[i + 2]), score, listIndex % PER_QUEUE);
    const raw = String(reply[i + 1]);
    leases.remember(tag, score, r.visibilityTimeoutMs, raw);
    out.push(
      deliveryOf(
        { tag, queue: r.queues[Math.floor(listIndex / PER_QUEUE)]!, redelivered: Number(reply[i + 3]) === 1 },
        raw,
        parseKombuEnvelope,
      ),
    );
  }
  return out;
}
