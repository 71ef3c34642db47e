import type { Redis } from "ioredis";
import { deadLetterCursor, deadLetterLimit, deadLetterOf, type DeadLetterPage, type DeadLetterQuery } from "../broker.js";
import { parseKombuEnvelope } from "./kombu-envelope.js";

/**
 * Dead letters live in an Ebb list (`ebb.dead_letters`, LPUSH so index 0 is the newest) as JSON
 * {raw, queue, reason, at}, raw being the list entry as it was. Celery has no such place; it
 * never reads this key.
 */
export function deadLetterEntry(raw: string, queue: string, reason: string, at: number): string {
  return JSON.stringify({ raw, queue, reason, at });
}

/**
 * A page, newest first. The list only grows at its head, so an entry's position counted from
 * the tail never changes: the cursor is the tail position of the previous page's last entry, and
 * dead letters added meanwhile neither shift a page nor repeat one.
 */
export async function readDeadLetters(client: Redis, key: string, query?: DeadLetterQuery): Promise<DeadLetterPage> {
  const limit = deadLetterLimit(query);
  const cursor = deadLetterCursor(query);
  let rows: string[];
  let lastPosition: number;
  if (cursor === null) {
    const [[e1, len], [e2, head]] = (await client
      .multi()
      .llen(key)
      .lrange(key, 0, limit - 1)
      .exec())! as [[Error | null, number], [Error | null, string[]]];
    if (e1 || e2) throw e1 ?? e2;
    rows = head;
    lastPosition = len - rows.length;
  } else {
    // Tail position p is index -(p + 1); the page is positions cursor-1 down to cursor-limit.
    rows = cursor === 0 ? [] : await client.lrange(key, -cursor, Math.min(-1, -cursor + limit - 1));
    lastPosition = cursor - rows.length;
  }
  const items = rows.map((row) => {
    try {
      const e = JSON.parse(row) as { raw?: unknown; queue?: unknown; reason?: unknown; at?: unknown };
      return deadLetterOf(String(e.raw), parseKombuEnvelope, {
        queue: String(e.queue ?? ""),
        reason: String(e.reason ?? ""),
        at: Number(e.at),
      });
    } catch {
      // Someone wrote to Ebb's key by hand: show the row rather than fail the whole read.
      return deadLetterOf(row, parseKombuEnvelope, { queue: "", reason: "unreadable dead-letter entry", at: 0 });
    }
  });
  return { items, next: rows.length > 0 && lastPosition > 0 ? String(lastPosition) : null };
}
