/**
 * Every Redis key and channel the result backend touches, under the URL's optional `prefix`.
 *
 *   <prefix>celery-task-meta-<id>   the value, exactly as Celery writes it (STRING), and the pub/sub
 *                                   channel Celery's AsyncResult.get() listens on (same name)
 *   <prefix>ebb:results:ttl         ZSET id → expiresAt (epoch ms): results whose value Redis expires
 *                                   itself (action "delete", not held) and that are not default
 *                                   (a tier, or in progress); default ones have a record instead.
 *                                   After the TTL has removed the value the entry stays on as the
 *                                   tombstone that makes the id read EXPIRED (for ten minutes; then
 *                                   as a record); trimming drops what is left after the grace window.
 *                                   Cleanup that removes a value by hand may ZADD it here for the same
 *                                   reason.
 *   <prefix>ebb:results:no-ttl      ZSET id → expiresAt, or +inf for never: results that have no TTL
 *                                   (action "archive", lifetime null, or held). Nothing trims it: its
 *                                   entries leave with their values, when cleanup/archive removes them.
 *                                   So it is also cleanup's work list: ZRANGEBYSCORE -inf <now> are the
 *                                   expired results waiting to be archived (minus the held ones), and
 *                                   ZCOUNT +inf +inf counts the results that never expire.
 *   <prefix>ebb:results:archived    HASH id → "<tombstone>|<archived at>|<archive file>": where archive
 *                                   --delete put a result it removed, read with its ttl entry (the
 *                                   tombstone) and trusted only while that entry is the same; trimmed
 *                                   with it. Costs the file's path per id, for the grace window.
 *   <prefix>ebb:results:expired:<hh>[:new]  STRING: compact 12-byte records of expiries (tombstones.ts).
 *                                   A default result (no tier, ready, not held, a TTL) is indexed
 *                                   by its record alone, written with its value; any other expired
 *                                   ttl-index entry moves here ten minutes after its expiry. 256
 *                                   shards (<hh>), each a sorted part and an appended tail;
 *                                   ebb:results:expired:gen counts their merges.
 *   <prefix>ebb:results:info        HASH id → what Celery's value cannot hold (tier, action, hold, in
 *                                   progress, archived, foreign), see index-info.ts. Only results that differ from the
 *                                   default (no tier, action delete, not held, ready) have an entry.
 *
 * Two zsets rather than one: a single zset ordered by expiresAt would put archive-pending and held
 * results, which must stay indexed however old they are, in front of the trimmable ones, and every
 * trim would have to step over them. Split by "who removes the value", trimming is one range read.
 *
 * Ids found only under celery-task-meta-* (written by Python Celery) have no index entry; they read
 * with expiresAt from their PTTL and no tier. Reading, storing and trimming never need KEYS or SCAN;
 * retention scans SCAN for those foreign keys only (retention-scan.ts), and never use KEYS. Holding
 * or archiving a foreign key indexes it, flagged foreign (index-info.ts).
 */
export interface ResultKeys {
  value(taskId: string): string;
  channel(taskId: string): string;
  readonly ttlIndex: string;
  readonly noTtlIndex: string;
  readonly info: string;
  readonly archived: string;
  /** SCAN MATCH pattern for everything under the prefix (tests and benchmarks clean up with it). */
  readonly everything: string;
}

export function resultKeys(prefix: string): ResultKeys {
  return {
    value: (taskId) => `${prefix}celery-task-meta-${taskId}`,
    // Celery publishes on the key's own name; with a prefix both move together.
    channel: (taskId) => `${prefix}celery-task-meta-${taskId}`,
    ttlIndex: `${prefix}ebb:results:ttl`,
    noTtlIndex: `${prefix}ebb:results:no-ttl`,
    info: `${prefix}ebb:results:info`,
    archived: `${prefix}ebb:results:archived`,
    everything: `${globEscape(prefix)}*`,
  };
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
