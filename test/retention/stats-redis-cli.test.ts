import { afterAll, beforeAll, expect, it } from "vitest";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { ebb } from "../e2e/cli-harness.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { RedisServer } from "../support/redis-server.js";
import { describeWithService } from "../support/services.js";

// Plain `ebb stats` on Redis, through the real binary: used memory, keys without a TTL and the
// eviction warning are printed, not only with --json. A private redis-server, because the case
// sets maxmemory-policy to one that evicts (CONFIG SET on the shared Redis would touch everybody).

await describeWithService("redis", "ebb stats on Redis prints what Redis adds", () => {
  let server: RedisServer;
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  beforeAll(async () => {
    server = await RedisServer.start();
    ns = await redisNamespace(server.port);
    const backend = await new RedisBackend({ url: ns.url }).connect();
    const base = { status: "SUCCESS" as const, result: 1, traceback: null, children: [], tier: null, action: "delete" as const };
    await backend.store({ ...base, taskId: "ttl", lifetimeMs: 3_600_000 });
    await backend.store({ ...base, taskId: "forever", lifetimeMs: null });
    await backend.store({ ...base, taskId: "audit", lifetimeMs: 3_600_000, tier: "audit", action: "archive" });
    await backend.close();
  });
  afterAll(async () => {
    await ns.cleanup();
    await server.destroy();
  });

  it("plain output has used memory, keys without TTL, and the warning when maxmemory-policy can evict", async () => {
    await ns.redis.config("SET", "maxmemory-policy", "allkeys-lru");
    const r = await ebb(["stats", "--backend", ns.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^results: 3 /);
    expect(r.stdout).toMatch(/\nused memory: \d+(\.\d+)? [KMG]?B \(no maxmemory, maxmemory-policy allkeys-lru\)\n/);
    expect(r.stdout).toMatch(/\nkeys without TTL: 2 of 3 result keys /);
    expect(r.stdout).toMatch(
      /\nwarning: maxmemory-policy is allkeys-lru: when Redis reaches maxmemory it evicts any result before its time/,
    );

    // --json keeps its keys (backward compatible), and says which store it is.
    const json = JSON.parse((await ebb(["stats", "--backend", ns.url, "--json"])).stdout);
    expect(json.store).toMatchObject({
      kind: "redis",
      usedMemory: expect.any(Number),
      maxmemoryPolicy: "allkeys-lru",
      resultKeys: 3,
      resultKeysWithoutTtl: 2,
      warning: expect.stringContaining("allkeys-lru"),
    });

    await ns.redis.config("SET", "maxmemory-policy", "noeviction");
    const calm = await ebb(["stats", "--backend", ns.url]);
    expect(calm.stdout).toMatch(/maxmemory-policy noeviction\)/);
    expect(calm.stdout).not.toMatch(/warning:/);
  });
});
