/**
 * Key names, exactly as kombu's Redis transport lays them out, so Python Celery workers and
 * clients on the same Redis see Ebb's messages as their own:
 *
 *   <queue>                 priority 0-2     (kombu priority_steps [0, 3, 6, 9])
 *   <queue>\x06\x163        priority 3-5
 *   <queue>\x06\x166        priority 6-8
 *   <queue>\x06\x169        priority 9
 *   _kombu.binding.<queue>  set of "<routing_key>\x06\x16<pattern>\x06\x16<queue>"
 *   unacked                 hash delivery_tag → JSON [message, exchange, routing_key]
 *   unacked_index           zset delivery_tag → unix time in seconds (float)
 *   unacked_mutex           the restore lock (SET NX PX)
 *
 * Ebb adds keys of its own, which Celery never reads:
 *   ebb.dead_letters        list of JSON {raw, queue, reason, at}, newest first
 *   ebb.redelivered         hash sha1(raw) → count, the redelivered flag of restored messages
 *                           that are not JSON objects (the flag of an envelope lives in it)
 *   ebb.once.<key>          string "1" with a TTL (SET NX PX): publishOnce()'s key, so a message
 *                           published under it is not published again until it expires
 *   ebb.inflight.<c>.<list> list: consumer c's hand-off list for <list> (unprefixed name). Its
 *                           blocking wait moves a message there (BRPOPLPUSH), and the fetch
 *                           script moves it on into unacked, so it is never only in memory
 *   ebb.consumer.<c>        set of the lists consumer c waits on (full key names)
 *   ebb.consumers           zset consumer id -> unix seconds of its latest blocking wait; the
 *                           sweep puts back the hand-off lists of consumers silent for 30 s
 *
 * The URL's `prefix` goes in front of every key, like kombu's global_keyprefix.
 */
export const SEP = "\x06\x16";
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** kombu's priority(): the largest step <= priority, after clamping to 0..9. */
export function priorityStep(priority: number): number {
  const p = Number.isFinite(priority) ? Math.min(9, Math.max(0, Math.trunc(priority))) : 0;
  let step = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

export class RedisKeys {
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  readonly deadLetters: string;
  readonly redelivered: string;
  readonly consumers: string;

  constructor(readonly prefix: string) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
    this.deadLetters = `${prefix}ebb.dead_letters`;
    this.redelivered = `${prefix}ebb.redelivered`;
    this.consumers = `${prefix}ebb.consumers`;
  }

  /** The lists consumer `id` waits on. */
  consumerLists(id: string): string {
    return `${this.prefix}ebb.consumer.${id}`;
  }

  /** Consumer `id`'s hand-off list for `list` (a full key name, as list() gives). */
  inflight(id: string, list: string): string {
    const name = list.startsWith(this.prefix) ? list.slice(this.prefix.length) : list;
    return `${this.prefix}ebb.inflight.${id}.${name}`;
  }

  /** publishOnce()'s dedupe key. */
  once(key: string): string {
    return `${this.prefix}ebb.once.${key}`;
  }

  /** The list a message of this priority goes to (kombu _q_for_pri). */
  list(queue: string, priority: number): string {
    const step = priorityStep(priority);
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** A queue's lists in the order they are served: priority 0 first. */
  lists(queue: string): string[] {
    return PRIORITY_STEPS.map((step) => this.list(queue, step));
  }

  /** Celery declares each queue on an exchange of the same name with routing key = queue. */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  bindingMember(queue: string): string {
    return `${queue}${SEP}${SEP}${queue}`;
  }
}

/** Unix time in seconds as kombu writes it (Python's time()), from epoch ms. */
export function toScore(ms: number): string {
  return String(ms / 1000);
}
