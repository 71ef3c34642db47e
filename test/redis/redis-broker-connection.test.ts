import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, expect, it } from "vitest";
import { brokerFromUrl, checkBrokerUrl } from "../../src/brokers/by-url.js";
import { RedisBroker } from "../../src/brokers/redis/redis-broker.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { describeWithService } from "../support/services.js";
import { namespace, type Namespace } from "./redis-broker-helpers.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { waitFor as until } from "../support/wait.js";

// Store-only cases: what the Redis broker does when its connections fail or drop. Reconnecting
// and the offline queue are ioredis behaviour the other brokers do not have.

const VT = 60_000;

await describeWithService("redis", "redis broker: connections", () => {
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(() => ns.cleanup());

  /** CLIENT LIST lines of the connections with this name (only this test's broker uses it). */
  const connections = async (name: string): Promise<string[]> =>
    ((await ns.redis.call("CLIENT", "LIST")) as string).split("\n").filter((l) => l.includes(` name=${name} `));

  /** CLIENT KILL every connection with this name. */
  const killConnections = async (name: string): Promise<number> => {
    const ids = (await connections(name)).map((l) => /\bid=(\d+)/.exec(l)![1]!);
    for (const id of ids) await ns.redis.call("CLIENT", "KILL", "ID", id);
    return ids.length;
  };

  it("extend, ack and fetch issued while its connections are down complete after they come back", async () => {
    const name = `ebb-reconnect-${randomUUID().slice(0, 8)}`;
    const broker = await ns.broker({ connectionName: name });
    const publisher = await ns.broker();
    await broker.publish(textMessage("m1"), { queue: "q", priority: 0, availableAt: null });
    await broker.publish(textMessage("m2"), { queue: "q", priority: 0, availableAt: null });
    const [d1, d2] = await broker.fetch(["q"], 2, { visibilityTimeoutMs: VT, waitMs: 0 });

    expect(await killConnections(name)).toBe(1);
    await broker.extend([d1!, d2!], VT);
    await broker.ack(d1!);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(1);

    // A blocking fetch whose connections drop mid-wait (the command connection and one blocking
    // move per priority list of q): ioredis resends the BRPOPLPUSHes.
    const waiting = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 5_000 });
    // Kill only once the fetch is blocked in BRPOPLPUSH on its connections (flag b).
    await until(
      "the fetch to block in BRPOPLPUSH",
      async () => (await connections(name)).filter((l) => /\bflags=\S*b/.test(l) && /\bcmd=brpoplpush\b/.test(l)).length === 4,
    );
    expect(await killConnections(name)).toBe(5);
    await publisher.publish(textMessage("m3"), { queue: "q", priority: 0, availableAt: null });
    expect(bodies(await waiting)).toEqual(["m3"]);
    await broker.ack(d2!);
    expect(await ns.redis.hlen(`${ns.prefix}unacked`)).toBe(1);
  });

  it("by URL: redis:// and rediss:// give a RedisBroker; an unreachable Redis is StoreUnavailableError with the password hidden", async () => {
    const broker = await brokerFromUrl(ns.url);
    expect(broker).toBeInstanceOf(RedisBroker);
    expect(broker.capabilities).toEqual({
      delayedDelivery: false,
      priorityOrder: "lowest-first",
      clock: "store",
      delivery: "lease",
      dedupedPublish: true,
      events: true,
    });
    await broker.close();
    expect(() => checkBrokerUrl("rediss://example.invalid:6380/0")).not.toThrow();

    const unreachable = "redis://:s3cret@127.0.0.1:1/0";
    const error = await brokerFromUrl(unreachable).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toContain("redis://:***@127.0.0.1:1/0");
    expect((error as Error).message).not.toContain("s3cret");
  });

  it("close ends a blocking fetch promptly, and the closed broker refuses work", async () => {
    const name = `ebb-close-${randomUUID().slice(0, 8)}`;
    const broker = await ns.broker({ connectionName: name });
    const waiting = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 20_000 });
    await until("the fetch to block in BRPOPLPUSH", async () => (await connections(name)).some((l) => /\bflags=\S*b/.test(l)));
    const started = performance.now();
    await broker.close();
    expect(await waiting).toEqual([]);
    // Ended by CLIENT UNBLOCK, not by the BRPOPLPUSH's own 1 s slice running out (nor the 20 s wait).
    expect(performance.now() - started).toBeLessThan(900);
    await expect(broker.publish(textMessage("x"), { queue: "q", priority: 0, availableAt: null })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });
});
