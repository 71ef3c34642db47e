import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { currentTask } from "../../src/task-context.js";
import { describeWithService } from "../support/services.js";
import { RedisServer, runWorker, testApp, waitFor } from "./harness.js";

// DESIGN.md, "Cleanup and archive": never KEYS (it blocks Redis), UNLINK rather than DEL. A
// MONITOR watches a whole app flow. It runs on a redis-server of its own so that every command
// seen is Ebb's (other suites share 6379), under a prefix as a shared deployment would be.

interface Seen {
  args: string[];
  source: string;
}

await describeWithService("redis", "redis e2e: commands on the wire for a whole app flow", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it("publish, fetch, store, get, retry, ETA, forget and restore send no KEYS/FLUSH*, and never DEL a result key", async () => {
    const prefix = `ebbtest:${randomUUID()}:`;
    const url = server.url(prefix);
    const admin = server.client();
    const adminAddr = /addr=(\S+)/.exec((await admin.call("CLIENT", "INFO")) as string)![1]!;
    const monitor: Redis = await admin.duplicate().monitor();
    const seen: Seen[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => seen.push({ args, source }));

    // A consumer that takes one message and dies without acking: the worker's restore must bring it back.
    const ghost = testApp(url, { visibilityTimeout: "1s" });
    const ghostBroker = await ghost.broker();
    const app = testApp(url, { visibilityTimeout: "1s", resultTimeout: "10s" });
    const redelivered: boolean[] = [];
    const echo = app.task("e2e.echo", async (v: string) => {
      if (currentTask().queue === "side") redelivered.push(currentTask().redelivered);
      return v;
    });
    const flaky = app.task("e2e.flaky", async () => {
      if (currentTask().retries === 0) currentTask().retry({ countdown: "300ms" });
      return `ok after ${currentTask().retries} retry`;
    });

    const lost = await echo.applyAsync(["restored"], { queue: "side" });
    const [leased] = await ghostBroker.fetch(["side"], 1, { visibilityTimeoutMs: 1_000, waitMs: 1_000 });
    expect(leased).toBeDefined();
    await ghost.close();

    await runWorker(app, { concurrency: 4, queues: ["celery", "side"] });
    const plain = await echo.delay("plain");
    expect(await plain.get()).toBe("plain");
    const eta = await echo.applyAsync(["eta"], { countdown: "500ms" });
    const retried = await flaky.delay();
    expect(await eta.get()).toBe("eta");
    expect(await retried.get()).toBe("ok after 1 retry");
    expect(await lost.get()).toBe("restored");
    expect(redelivered).toEqual([true]);

    await plain.forget();
    expect(await plain.state()).toBe("PENDING");
    expect(await admin.exists(`${prefix}celery-task-meta-${plain.id}`)).toBe(0);

    // The last command the flow sent (the forget's UNLINK) has reached the monitor before we stop looking.
    await waitFor(
      "the monitor to see the forget",
      () => seen.some((c) => c.args[0]!.toUpperCase() === "UNLINK" && c.args[1] === `${prefix}celery-task-meta-${plain.id}`),
      5_000,
    );
    monitor.disconnect();
    const sent = seen.filter((c) => c.source !== adminAddr);
    const name = (c: Seen) => c.args[0]!.toUpperCase();
    const names = new Set(sent.map(name));

    expect([...names].filter((n) => n === "KEYS" || n === "FLUSHALL" || n === "FLUSHDB")).toEqual([]);
    const resultKey = (a: string) => a.startsWith(`${prefix}celery-task-meta-`);
    expect(sent.filter((c) => name(c) === "DEL" && c.args.slice(1).some(resultKey))).toEqual([]);
    expect(sent.filter((c) => name(c) === "DEL")).toEqual([]);
    // The monitor did see each path: scripts and the commands inside them, blocking pops, pub/sub, restore, UNLINK.
    for (const cmd of ["LPUSH", "EVALSHA", "BRPOPLPUSH", "SUBSCRIBE", "PUBLISH", "ZREVRANGEBYSCORE", "UNLINK", "TIME"])
      expect(names, cmd).toContain(cmd);
    expect(sent.some((c) => c.source === "lua" && name(c) === "SET" && resultKey(c.args[1]!))).toBe(true);

    // Every key the flow left behind is under the prefix.
    const [, everything] = await admin.scan("0", "MATCH", "*", "COUNT", 10_000);
    expect(everything.length).toBeGreaterThan(0);
    expect(everything.filter((k) => !k.startsWith(prefix))).toEqual([]);
    admin.disconnect();
  }, 30_000);
});
