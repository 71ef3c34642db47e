import type { Redis } from "ioredis";
import { SEP } from "./keys.js";

/**
 * kombu's exchange tables on Redis (kombu/transport/redis.py, _queue_bind / get_table): for each
 * exchange a set `_kombu.binding.<exchange>` of "<routing_key>\x06\x16<pattern>\x06\x16<queue>".
 * A message sent to a direct exchange goes to every queue bound with its routing key
 * (kombu/transport/virtual/exchange.py, DirectExchange.lookup).
 */
export interface KombuBinding {
  routingKey: string;
  pattern: string;
  queue: string;
}

/** The set holding an exchange's bindings (the key prefix is the URL's `prefix`, like kombu's global_keyprefix). */
export function bindingKey(prefix: string, exchange: string): string {
  return `${prefix}_kombu.binding.${exchange}`;
}

export function bindingMember(b: KombuBinding): string {
  return [b.routingKey, b.pattern, b.queue].join(SEP);
}

/** An exchange's bindings as kombu reads them; a member that is not three fields is skipped. */
export async function readBindings(client: Redis, prefix: string, exchange: string): Promise<KombuBinding[]> {
  const members = await client.smembers(bindingKey(prefix, exchange));
  return members.flatMap((m) => {
    const parts = m.split(SEP);
    return parts.length === 3 ? [{ routingKey: parts[0]!, pattern: parts[1]!, queue: parts[2]! }] : [];
  });
}

/** The queues a direct exchange delivers `routingKey` to, each once. */
export function directLookup(bindings: readonly KombuBinding[], routingKey: string): string[] {
  return [...new Set(bindings.filter((b) => b.routingKey === routingKey).map((b) => b.queue))];
}
