import { frameKombuEnvelope } from "./kombu-envelope.js";
import { randomUUID } from "node:crypto";
import type { TransportMessage } from "../../protocol/transport-message.js";

/**
 * kombu's fanout exchanges on Redis (kombu/transport/redis.py: _put_fanout, _get_publish_topic),
 * which is how Celery sends its events there: celery.events.get_exchange() turns the `celeryev`
 * topic exchange into a fanout one on Redis, and a fanout publish is a Redis PUBLISH on
 *
 *   <global prefix>/<db>.<exchange>/<routing key>        e.g. "/0.celeryev/task.succeeded"
 *
 * (kombu's defaults fanout_prefix=True and fanout_patterns=True). A receiver (`celery events`,
 * Flower) PSUBSCRIBEs "/<db>.celeryev/*". So an event reaches whoever listens at that moment
 * and nothing is stored: no list grows when nobody reads, which is why Celery needs no
 * event_queue_ttl on Redis (that setting is for AMQP queues). The `_kombu.binding.celeryev` set a
 * receiver also writes is not read for fanout delivery.
 *
 * The payload is kombu's envelope, as Python's json.dumps writes it:
 *
 *   {"body": base64(body), "content-encoding", "content-type", "headers": {...},
 *    "properties": {delivery_mode, delivery_info: {exchange, routing_key}, priority: 0,
 *                   body_encoding: "base64", delivery_tag}}
 */

/** The pub/sub channel of a fanout publish. `prefix` is the URL's prefix (kombu's global_keyprefix, which it puts on PUBLISH too). */
export function fanoutChannel(prefix: string, db: number, exchange: string, routingKey: string): string {
  return routingKey === "" ? `${prefix}/${db}.${exchange}` : `${prefix}/${db}.${exchange}/${routingKey}`;
}

/** A message framed as kombu frames a fanout publish on Redis: its envelope, with the exchange and routing key in delivery_info. */
export function frameFanoutEnvelope(m: TransportMessage, exchange: string, routingKey: string, deliveryTag: string = randomUUID()): string {
  const priority = typeof m.properties.priority === "number" ? m.properties.priority : 0;
  return frameKombuEnvelope(m, routingKey, priority, deliveryTag, exchange);
}
