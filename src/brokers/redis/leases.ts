import type { Delivery } from "../broker.js";

/**
 * kombu keys a lease by the envelope's delivery_tag, which stays the same when a message is
 * handed out again, so the tag alone cannot tell a stale worker from the current one. The
 * unacked_index score can: every fetch writes a new one. A Delivery's tag carries the field,
 * the score written when it was fetched and the priority list it came from; this table follows
 * the score as extend() moves it. Every write is conditional on the score still matching.
 */
export interface Lease {
  /** The unacked hash field (the envelope's delivery_tag, or an Ebb tag for messages without one). */
  field: string;
  /** The unacked_index score this process last wrote, as sent to Redis. */
  score: string;
  /** Index of the list the message came from among its queue's lists (0 = priority 0-2). */
  listIndex: number;
  /** The visibility timeout it was fetched with (scores are lease end - this); null when unknown. */
  visibilityTimeoutMs: number | null;
  /** The list entry as fetched (release and deadLetter write it back byte for byte); null when unknown. */
  raw: string | null;
}

interface Held {
  score: string;
  visibilityTimeoutMs: number;
  raw: string;
  touchedAt: number;
}

/** Leases nobody settles (a worker that gave up on a message) are forgotten after this long. */
const FORGET_AFTER_MS = 24 * 3600_000;

export class Leases {
  readonly #held = new Map<string, Held>();

  tagFor(field: string, score: string, listIndex: number): string {
    return `${score}|${listIndex}|${field}`;
  }

  remember(tag: string, score: string, visibilityTimeoutMs: number, raw: string): void {
    this.#held.set(tag, { score, visibilityTimeoutMs, raw, touchedAt: performance.now() });
  }

  /** The lease behind a delivery, with the score this process last wrote for it; null for a tag that is not this broker's format. */
  of(delivery: Delivery): Lease | null {
    const m = /^([^|]+)\|(\d)\|([\s\S]+)$/.exec(delivery.tag);
    if (!m) return null;
    const held = this.#held.get(delivery.tag);
    return {
      field: m[3]!,
      score: held?.score ?? m[1]!,
      listIndex: Number(m[2]),
      visibilityTimeoutMs: held?.visibilityTimeoutMs ?? null,
      raw: held?.raw ?? null,
    };
  }

  moved(delivery: Delivery, score: string): void {
    const held = this.#held.get(delivery.tag);
    if (held) Object.assign(held, { score, touchedAt: performance.now() });
  }

  forget(delivery: Delivery): void {
    this.#held.delete(delivery.tag);
  }

  prune(): void {
    const cutoff = performance.now() - FORGET_AFTER_MS;
    for (const [tag, held] of this.#held) if (held.touchedAt < cutoff) this.#held.delete(tag);
  }
}
