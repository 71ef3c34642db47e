import type { Redis } from "ioredis";
import type { DeadLetter } from "../broker.js";

/**
 * Dead letters live in an Ebb list (`ebb.dead_letters`, LPUSH so index 0 is the newest) as JSON
 * {raw, queue, reason, at}. Celery has no such place; it never reads this key.
 */
export function deadLetterEntry(raw: string, queue: string, reason: string, at: number): string {
  const entry: DeadLetter = { raw, queue, reason, at };
  return JSON.stringify(entry);
}

export async function readDeadLetters(client: Redis, key: string, limit?: number): Promise<DeadLetter[]> {
  if (limit !== undefined && limit < 1) return [];
  const rows = await client.lrange(key, 0, limit === undefined ? -1 : limit - 1);
  return rows.map((row) => {
    try {
      const e = JSON.parse(row) as Partial<DeadLetter>;
      return { raw: String(e.raw), queue: String(e.queue ?? ""), reason: String(e.reason ?? ""), at: Number(e.at) };
    } catch {
      // Someone wrote to Ebb's key by hand: show the row rather than fail the whole read.
      return { raw: row, queue: "", reason: "unreadable dead-letter entry", at: 0 };
    }
  });
}
