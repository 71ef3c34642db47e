import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { RedisServer } from "../support/redis-server.js";
import { describeWithService } from "../support/services.js";
import { namespace, type Namespace } from "./redis-broker-helpers.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { waitFor as until } from "../support/wait.js";

// Store-only case: which Redis commands the broker sends. KEYS blocks a shared Redis (DESIGN.md,
// "Cleanup and archive"), so the broker must never send it, on any path.

const VT = 1_000;

await describeWithService("redis", "redis broker: commands on the wire", () => {
  // A private redis-server: MONITOR sees only this test's commands (see test/support/redis-server.ts).
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.destroy());
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace(server.port);
  });
  afterEach(() => ns.cleanup());

  it("publish, fetch (batch and blocking), extend, ack, release, dead-letter and restore send no KEYS", async () => {
    const name = `ebb-monitor-${randomUUID().slice(0, 8)}`;
    const monitor = await ns.redis.monitor(); // monitor() opens a connection of its own (a duplicate() first would be left open)
    const seen: { args: string[]; source: string }[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => seen.push({ args, source }));

    const broker = await ns.broker({ connectionName: name });
    await broker.publish(textMessage("a"), { queue: "q", priority: 0, availableAt: null });
    await broker.publish(textMessage("b"), { queue: "q", priority: 9, availableAt: null });
    const batch = await broker.fetch(["q"], 10, { visibilityTimeoutMs: VT, waitMs: 0 });
    await broker.extend(batch, VT);
    await broker.ack(batch[0]!);
    await broker.release(batch[1]!, null);
    const [again] = await broker.fetch(["q", "r"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    ns.clock.advance(VT);
    const [restored] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(restored).toMatchObject({ message: { headers: { id: again!.message!.headers.id } }, redelivered: true });
    await broker.deadLetter(restored!, "done looking");
    const blocking = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 10_000 });
    // Publish only once the monitor has seen the fetch block, so "c" is moved by the BRPOPLPUSH.
    await until("the monitor to see the BRPOPLPUSH", () =>
      seen.some((c) => c.args[0]!.toUpperCase() === "BRPOPLPUSH" && c.args.includes(`${ns.prefix}q`)),
    );
    await broker.publish(textMessage("c"), { queue: "q", priority: 0, availableAt: null });
    expect(bodies(await blocking)).toEqual(["c"]);
    // MONITOR streams in execution order: once it shows this marker, it has shown everything before it.
    const marker = `ebb-monitor-end-${randomUUID()}`;
    await ns.redis.echo(marker);
    await until("the monitor to see the end marker", () => seen.some((c) => c.args[1] === marker));
    monitor.disconnect();

    // Our connections (by name), and the commands their scripts ran ("lua").
    const clients = (await ns.redis.call("CLIENT", "LIST")) as string;
    const ours = new Set(
      clients
        .split("\n")
        .filter((l) => l.includes(` name=${name} `))
        .map((l) => /addr=(\S+)/.exec(l)![1]!),
    );
    const sent = seen.filter((c) => ours.has(c.source) || (c.source === "lua" && c.args.some((a) => a.startsWith(ns.prefix))));
    const names = new Set(sent.map((c) => c.args[0]!.toUpperCase()));
    expect(names).not.toContain("KEYS");
    // The monitor did see the paths it was meant to see.
    for (const cmd of [
      "SADD",
      "LPUSH",
      "EVALSHA",
      "BRPOPLPUSH",
      "SET",
      "ZREVRANGEBYSCORE",
      "RPOP",
      "ZADD",
      "HSET",
      "ZREM",
      "HDEL",
      "RPUSH",
    ])
      expect(names).toContain(cmd);
    const mutex = sent.find((c) => c.args[0]!.toUpperCase() === "SET");
    expect(mutex?.args.slice(1)).toEqual([`${ns.prefix}unacked_mutex`, expect.any(String), "PX", "30000", "NX"]);
  });
});
