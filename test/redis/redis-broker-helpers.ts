import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { frameKombuEnvelope, parseKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import { RedisBroker } from "../../src/brokers/redis/redis-broker.js";
import { manualClock } from "../../src/clock.js";
import { unlinkPrefix } from "../support/redis-namespace.js";
import { SERVICES } from "../support/services.js";
import { textMessage } from "../support/transport-messages.js";

export { unlinkPrefix };

const { host } = SERVICES.redis;

/** A namespace of its own per test (the URL's prefix), a plain client to look at it, and cleanup. */
export interface Namespace {
  prefix: string;
  url: string;
  /** For reading and writing keys by hand (prefix them yourself). */
  redis: Redis;
  clock: ReturnType<typeof manualClock>;
  broker(opts?: { clock?: ReturnType<typeof manualClock> | null; connectionName?: string }): Promise<RedisBroker>;
  cleanup(): Promise<void>;
}

/** On the shared test Redis, or on a private redis-server's port (MONITOR tests). */
export async function namespace(port: number = SERVICES.redis.port): Promise<Namespace> {
  const prefix = `ebbtest:${randomUUID()}:`;
  const url = `redis://${host}:${port}/0?prefix=${prefix}`;
  const redis = new Redis({ host, port });
  const clock = manualClock();
  const brokers: RedisBroker[] = [];
  return {
    prefix,
    url,
    redis,
    clock,
    async broker(opts = {}) {
      // clock: null means "use Redis's clock".
      const injected = opts.clock === null ? undefined : (opts.clock ?? clock);
      const b = await RedisBroker.connect({
        url,
        ...(injected ? { clock: injected } : {}),
        ...(opts.connectionName ? { connectionName: opts.connectionName } : {}),
      });
      brokers.push(b);
      return b;
    },
    async cleanup() {
      await Promise.all(brokers.map((b) => b.close()));
      await unlinkPrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/** A list entry as kombu frames it, for a message whose body (and headers.id) is `text`. */
export function envelopeOf(text: string, queue = "q", priority = 0): string {
  return frameKombuEnvelope(textMessage(text), queue, priority);
}

/** The body of a list entry (a kombu envelope) as text. */
export function bodyOfEntry(raw: string): string {
  return parseKombuEnvelope(raw).body.toString("utf8");
}

/** The quoted arguments of one `redis-cli monitor` line, unescaped (sdscatrepr: \" \\ \n \r \t \a \b \xHH). */
export function monitorArgs(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    out.push(
      m[1]!.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_s, e: string) =>
        e.startsWith("x") && e.length === 3
          ? String.fromCharCode(parseInt(e.slice(1), 16))
          : (({ n: "\n", r: "\r", t: "\t", a: "\x07", b: "\b" } as Record<string, string>)[e] ?? e),
      ),
    );
  }
  return out;
}
