import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { PubSubWatcher } from "../../src/backends/redis/pubsub-watcher.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { Closing } from "../../src/closing.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: pub/sub on Celery's channel between separate connections (and processes), the shared
// subscriber and its fallback to polling are Redis details. The conformance suite only sees that a
// watch wakes up, which an in-process notification would also satisfy.
const LONG_MS = 20_000;

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: 60_000, tier: null, action: "delete", ...over };
}

async function timed(p: Promise<unknown>): Promise<number> {
  const start = performance.now();
  await p;
  return performance.now() - start;
}

await describeWithService("redis", "redis result backend: watching results", () => {
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let reader: RedisBackend;
  let writer: RedisBackend;
  const channel = (id: string) => `${ns.prefix}celery-task-meta-${id}`;
  const subscribers = async (id: string) => Number(((await ns.redis.pubsub("NUMSUB", channel(id))) as [string, number])[1]);

  beforeEach(async () => {
    ns = await redisNamespace();
    reader = await new RedisBackend({ url: ns.url }).connect();
    writer = await new RedisBackend({ url: ns.url }).connect();
  });
  afterEach(async () => {
    await reader.close();
    await writer.close();
    await ns.cleanup();
  });

  it("wakes on a store made by another RedisBackend instance", async () => {
    const watch = await reader.watch("t-other");
    try {
      const woken = watch.changed(LONG_MS);
      await writer.store(request("t-other"));
      expect(await timed(woken)).toBeLessThan(2_000);
      expect((await reader.lookup("t-other", { graceMs: 1_000 })).kind).toBe("found");
    } finally {
      watch.close();
    }
  });

  it("wakes on a result a Python worker writes (MULTI SETEX + PUBLISH, as in the captured traffic)", async () => {
    const watch = await reader.watch("t-python");
    try {
      const woken = watch.changed(LONG_MS);
      const value = JSON.stringify({
        status: "SUCCESS",
        result: 5,
        traceback: null,
        children: [],
        date_done: "2026-11-24T02:04:40.124625",
        task_id: "t-python",
      });
      await ns.redis.multi().setex(`${ns.prefix}celery-task-meta-t-python`, 86_400, value).publish(channel("t-python"), value).exec();
      expect(await timed(woken)).toBeLessThan(2_000);
    } finally {
      watch.close();
    }
  });

  it("shares one SUBSCRIBE per channel among its watches and UNSUBSCRIBEs after the last one closes", async () => {
    const a = await reader.watch("t-shared");
    const b = await reader.watch("t-shared");
    expect(await subscribers("t-shared")).toBe(1);
    const both = Promise.all([a.changed(LONG_MS), b.changed(LONG_MS)]);
    await writer.store(request("t-shared"));
    expect(await timed(both)).toBeLessThan(2_000);
    a.close();
    expect(await subscribers("t-shared")).toBe(1);
    b.close();
    await expect.poll(() => subscribers("t-shared")).toBe(0);
  });

  it("close() ends pending waits", async () => {
    const watch = await reader.watch("t-closing");
    const pending = watch.changed(LONG_MS);
    await reader.close();
    expect(await timed(pending)).toBeLessThan(1_000);
  });

  it("polls every 100 ms when the subscriber connection cannot be opened", async () => {
    const closing = new Closing();
    const watcher = new PubSubWatcher({ openSubscriber: () => Promise.reject(new Error("no pub/sub here")), closing });
    const watch = await watcher.watch("anything");
    const waited = await timed(watch.changed(LONG_MS));
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(1_000);
    closing.close();
    await watcher.close();
  });

  it("polls when an ACL forbids SUBSCRIBE, and the caller still sees the result", async () => {
    const user = `ebbtest-nochannels-${randomUUID()}`;
    // A user with no channel rights, so SUBSCRIBE fails. The test Redis is ours (Redis >= 6 has
    // ACLs): if this is refused, the test fails rather than skipping.
    // A password of its own and only this test's keys: the user is never a way into the shared Redis.
    const password = randomUUID();
    await ns.redis.acl("SETUSER", user, "on", `>${password}`, `~${ns.prefix}*`, "resetchannels", "+@all");
    const restricted = await new RedisBackend({
      url: `redis://${encodeURIComponent(user)}:${password}@127.0.0.1:6379/0?prefix=${ns.prefix}`,
    }).connect();
    try {
      const watch = await restricted.watch("t-acl");
      expect(await subscribers("t-acl")).toBe(0);
      await writer.store(request("t-acl"));
      expect(await timed(watch.changed(LONG_MS))).toBeLessThan(1_000);
      expect((await restricted.lookup("t-acl", { graceMs: 1_000 })).kind).toBe("found");
    } finally {
      await restricted.close();
      await ns.redis.acl("DELUSER", user);
    }
  });
});
