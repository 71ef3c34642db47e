import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { RedisServer } from "../support/redis-server.js";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: what Redis adds to `ebb stats` (used_memory, maxmemory-policy, keys without a TTL),
// and which commands retention sends. KEYS blocks a shared Redis (DESIGN.md, "Cleanup and
// archive"): scan, remove, storeFacts and the rest must never send it.

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return { taskId, status: "SUCCESS", result: 1, traceback: null, children: [], lifetimeMs: 60_000, tier: null, action: "delete", ...over };
}

const CELERY_VALUE = (id: string) =>
  `{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-24T02:04:40.124625", "task_id": "${id}"}`;

await describeWithService("redis", "redis retention store: facts and commands on the wire", () => {
  // A private redis-server: MONITOR sees only this test's commands (see test/support/redis-server.ts).
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.destroy());
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let clock: ReturnType<typeof manualClock>;
  let backend: RedisBackend;

  beforeEach(async () => {
    ns = await redisNamespace(server.port);
    clock = manualClock(Date.UTC(2026, 10, 24, 3));
    backend = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it("counts result keys without a TTL, Ebb's and Celery's, and reports used_memory and the policy", async () => {
    await backend.store(request("ttl"));
    await backend.store(request("never", { lifetimeMs: null }));
    await backend.store(request("audit", { tier: "audit", action: "archive" }));
    await backend.store(request("held"));
    await backend.setHeld("held", true);
    await ns.redis.set(`${ns.prefix}celery-task-meta-c1`, CELERY_VALUE("c1"));
    await ns.redis.set(`${ns.prefix}celery-task-meta-c2`, CELERY_VALUE("c2"), "EX", 600);
    const facts = await backend.storeFacts();
    const policy = (await ns.redis.config("GET", "maxmemory-policy")) as string[];
    expect(facts).toMatchObject({ resultKeys: 6, resultKeysWithoutTtl: 4, maxmemoryPolicy: policy[1], usedMemory: expect.any(Number) });
    expect(facts.usedMemory).toBeGreaterThan(0);
    if (!/^(allkeys|volatile)-/.test(policy[1]!)) expect(facts.warning).toBeUndefined();
  });

  it("warns when maxmemory-policy can evict results (allkeys-lru), and restores the policy", async () => {
    const [, original] = (await ns.redis.config("GET", "maxmemory-policy")) as [string, string];
    // The server is this file's own (beforeAll), so CONFIG SET is allowed and touches nobody else.
    await ns.redis.config("SET", "maxmemory-policy", "allkeys-lru");
    try {
      const facts = await backend.storeFacts();
      expect(facts.maxmemoryPolicy).toBe("allkeys-lru");
      expect(facts.warning).toContain("an evicted result reads as expired, but it was not");
      await ns.redis.config("SET", "maxmemory-policy", "volatile-ttl");
      expect((await backend.storeFacts()).warning).toContain("volatile-ttl");
      await ns.redis.config("SET", "maxmemory-policy", "noeviction");
      expect((await backend.storeFacts()).warning).toBeUndefined();
    } finally {
      await ns.redis.config("SET", "maxmemory-policy", original);
    }
  });

  it("scan, read, remove, markArchived, put, setHeld and storeFacts send no KEYS (and no DEL)", async () => {
    for (let i = 0; i < 30; i++)
      await backend.store(
        request(`e-${i}`, { lifetimeMs: i % 2 ? null : 1_000, tier: i % 3 ? null : "audit", action: i % 3 ? "delete" : "archive" }),
      );
    for (let i = 0; i < 30; i++)
      await ns.redis.set(`${ns.prefix}celery-task-meta-c-${i}`, CELERY_VALUE(`c-${i}`), ...((i % 2 ? ["EX", 600] : []) as []));
    clock.advance(2_000);
    const monitor = await ns.redis.duplicate().monitor();
    const seen: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => seen.push(args));

    const records: ResultRecord[] = [];
    for await (const batch of backend.scan({ batchSize: 7, includeHeld: true })) records.push(...batch);
    for await (const batch of backend.scan({ batchSize: 7, expiresBy: clock() })) records.push(...batch);
    expect(await backend.setHeld("c-1", true)).toBe(true);
    expect(await backend.read("e-0")).not.toBeNull();
    await backend.markArchived(records.slice(0, 10).map((r) => r.taskId));
    const outcome = await backend.remove(records.slice(0, 40), { remember: true });
    expect(outcome.removed.length).toBeGreaterThan(0);
    await backend.put(records[0]!, { replace: true });
    await backend.storeFacts();
    // MONITOR streams in order: once our marker arrives, everything sent before it has too, however
    // busy Redis is with other suites.
    const marker = `${ns.prefix}monitor-done`;
    const arrived = new Promise<void>((resolve) => monitor.on("monitor", (_t: string, args: string[]) => args[1] === marker && resolve()));
    await ns.redis.echo(marker);
    await arrived;
    await monitor.disconnect();

    const ours = seen.filter((args) => args.some((a) => a.includes(ns.prefix)));
    const names = new Set(ours.map((args) => args[0]!.toUpperCase()));
    names.delete("ECHO");
    expect(names).not.toContain("KEYS");
    expect(names).not.toContain("DEL");
    for (const cmd of ["SCAN", "EVALSHA", "UNLINK", "GET", "PTTL", "ZSCORE"]) expect(names).toContain(cmd);
    expect(ours.find((a) => a[0]!.toUpperCase() === "SCAN")).toEqual([
      "scan",
      expect.any(String),
      "MATCH",
      `${ns.prefix}celery-task-meta-*`,
      "COUNT",
      "1000",
    ]);
  });
});
