/**
 * A worker on a Redis that goes away and comes back: its log says "unreachable" once for the
 * outage (not once per poll or per connection) and "recovered" once; a background job's error is
 * logged with the job's name, once, and its recovery too. A private redis-server, stopped and
 * started by the test.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApp, streamLogger, type App, type Worker } from "../../src/index.js";
import { RedisServer } from "../support/redis-server.js";
import { describeWithService } from "../support/services.js";
import { waitFor } from "../support/wait.js";

await describeWithService("redis", "a worker's log when Redis goes away and when a background job fails", () => {
  let server: RedisServer;
  let app: App;
  let worker: Worker;
  let running: Promise<void>;
  const lines: string[] = [];
  const count = (pattern: RegExp) => lines.filter((l) => pattern.test(l)).length;

  beforeAll(async () => {
    server = await RedisServer.start();
    const url = server.url("ebbtest-outage:");
    app = createApp({ broker: url, backend: url }, { log: streamLogger((line) => void lines.push(line)) });
    app.task("t.add", async (a: number, b: number) => a + b);
    worker = await app.worker({ fetchWaitMs: 200 });
    running = worker.start();
    // Broker and backend connected, the restorer knows the visibility timeout.
    expect(await (await app.sendTask("t.add", [1, 2])).get({ timeoutMs: 10_000 })).toBe(3);
  });

  afterAll(async () => {
    await worker?.stop();
    await running;
    await app?.close();
    await server?.destroy();
  });

  it("says once that Redis is unreachable, and once that it recovered", async () => {
    await server.stop();
    await waitFor("the unreachable line", () => count(/unreachable/) > 0, 10_000);
    const errorsBefore = count(/ERROR/);
    // Let the outage last: the restorer ticks every second, the worker's fetch and every
    // connection retry many times meanwhile; none of them may say it again.
    await new Promise((r) => setTimeout(r, 3_000));
    await server.start();
    await waitFor("the recovered line", () => count(/recovered/) > 0, 20_000);
    expect(await (await app.sendTask("t.add", [2, 3])).get({ timeoutMs: 10_000 })).toBe(5);

    expect(count(/unreachable/)).toBe(1);
    expect(count(/recovered/)).toBe(1);
    expect(lines.find((l) => /unreachable/.test(l))).toMatch(
      new RegExp(`WARN Redis at 127\\.0\\.0\\.1:${server.port} is unreachable \\(ebb-`),
    );
    expect(lines.find((l) => /recovered/.test(l))).toMatch(/INFO Redis at 127\.0\.0\.1:\d+ recovered: reachable again after \d+\.\d s/);
    expect(count(/ERROR/)).toBe(errorsBefore);
  });

  it("logs a background job's error with its name once, however often it fails, and says when it works again", async () => {
    const admin = server.client();
    try {
      // The unacked index is a sorted set; as a string, the restorer's check fails with WRONGTYPE.
      await admin.set("ebbtest-outage:unacked_index", "not a zset");
      await waitFor("the restorer's error", () => count(/unacked restorer/) > 0, 10_000);
      // Several more ticks (one a second), each failing the same way.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(lines.filter((l) => /unacked restorer/.test(l))).toEqual([
        expect.stringMatching(/ERROR unacked restorer \(Redis at 127\.0\.0\.1:\d+\) failed: WRONGTYPE/),
      ]);
      await admin.del("ebbtest-outage:unacked_index");
      await waitFor("the restorer's recovery", () => count(/unacked restorer .* works again/) > 0, 10_000);
      expect(lines.filter((l) => /unacked restorer/.test(l))[1]).toMatch(
        /INFO unacked restorer \(Redis at 127\.0\.0\.1:\d+\) works again after \d+ failed runs/,
      );
    } finally {
      admin.disconnect();
    }
  });
});
