import { expect, it } from "vitest";
import type { App } from "../../src/app.js";
import { ResultExpiredError } from "../../src/errors.js";
import { describeWithService } from "../support/services.js";
import { redisNow, runWorker, sharedNamespace, testApp, waitFor } from "./harness.js";

// Retention at the app level on a real Redis: each lifetime rule becomes the right native TTL
// (or none) on Celery's own key, and what the app reads back follows the policy.

await describeWithService("redis", "redis e2e: retention through the app", () => {
  /** An app and worker on a prefix of their own; `key(id)` is the Celery result key under it. */
  async function setup(config: Parameters<typeof testApp>[1] = {}) {
    const ns = sharedNamespace();
    const app = testApp(ns.url, { resultTimeout: "10s", ...config });
    const key = (id: string) => `${ns.prefix}celery-task-meta-${id}`;
    return { ...ns, app, key, start: () => runWorker(app, { concurrency: 4 }) };
  }

  const echo = (app: App, name: string, options = {}) => app.task(name, async (v: string) => v, options);

  it('resultExpires "5s": the Celery key gets PTTL in (4000, 5000]', async () => {
    const { app, redis, key, start } = await setup();
    const task = echo(app, "e2e.five", { resultExpires: "5s" });
    await start();
    const res = await task.delay("x");
    expect(await res.get({ timeoutMs: 10_000 })).toBe("x");
    const pttl = await redis.pttl(key(res.id));
    expect(pttl).toBeGreaterThan(4_000);
    expect(pttl).toBeLessThanOrEqual(5_000);
    const info = await res.info();
    expect(Date.parse(info.expiresAt!) - Date.parse(info.dateDone!)).toBe(5_000);
  });

  it('tier "audit" (archive): no TTL on the key, expiresAt 30 days out, tier recorded', async () => {
    const { app, redis, key, start } = await setup();
    const task = echo(app, "e2e.audit", { tier: "audit" });
    await start();
    const res = await task.delay("a");
    expect(await res.get({ timeoutMs: 10_000 })).toBe("a");
    expect(await redis.pttl(key(res.id))).toBe(-1);
    const info = await res.info();
    expect(info.tier).toBe("audit");
    expect(Date.parse(info.expiresAt!) - Date.parse(info.dateDone!)).toBe(30 * 86_400_000);
  });

  it("an archive tier past its expiry: the key stays (awaiting archive) while the app reads EXPIRED", async () => {
    const { app, redis, key, start } = await setup({ tiers: { "short-archive": { expires: "1s", action: "archive" } } });
    const task = echo(app, "e2e.short-archive", { tier: "short-archive" });
    await start();
    const res = await task.delay("kept");
    expect(await res.get({ timeoutMs: 10_000 })).toBe("kept");
    expect(await redis.pttl(key(res.id))).toBe(-1);
    expect(await res.state()).toBe("SUCCESS");
    const expiresAt = Date.parse((await res.info()).expiresAt!);
    await waitFor("Redis's clock to pass the result's expiresAt", async () => (await redisNow(redis)) > expiresAt + 5, 5_000, 50);

    expect(await redis.exists(key(res.id))).toBe(1);
    expect(JSON.parse((await redis.get(key(res.id)))!).result).toBe("kept");
    expect(await res.state()).toBe("EXPIRED");
    await expect(res.get({ timeoutMs: 1_000 })).rejects.toBeInstanceOf(ResultExpiredError);
  });

  it("a permanent result (resultExpires null): no TTL, state SUCCESS, expiresAt null", async () => {
    const { app, redis, key, start } = await setup();
    const task = echo(app, "e2e.forever", { resultExpires: null });
    await start();
    const res = await task.delay("p");
    expect(await res.get({ timeoutMs: 10_000 })).toBe("p");
    expect(await redis.pttl(key(res.id))).toBe(-1);
    expect(await res.state()).toBe("SUCCESS");
    expect((await res.info()).expiresAt).toBeNull();
  });

  it("a delete-tier result of 1s reads EXPIRED (not PENDING) once Redis has dropped its key", async () => {
    const { app, redis, key, start } = await setup({ tiers: { "one-second": { expires: "1s", action: "delete" } } });
    const task = echo(app, "e2e.one-second", { tier: "one-second" });
    await start();
    const res = await task.delay("gone");
    expect(await res.get({ timeoutMs: 10_000 })).toBe("gone");
    const pttl = await redis.pttl(key(res.id));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1_000);
    await waitFor("Redis to expire the result key", async () => (await redis.exists(key(res.id))) === 0, 5_000, 50);

    expect(await res.state()).toBe("EXPIRED");
    const error = await res.get({ timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResultExpiredError);
    // An id that never existed stays PENDING: EXPIRED above is memory, not a default.
    expect(await app.asyncResult("never-sent").state()).toBe("PENDING");
  });

  it("ignoreResult: the task runs and is acked, and leaves no result key (a stored one next to it does)", async () => {
    const { app, redis, prefix, key, start } = await setup();
    const ran: string[] = [];
    const quiet = app.task("e2e.quiet", async (v: string) => void ran.push(v), { ignoreResult: true });
    const loud = echo(app, "e2e.loud");
    const { worker } = await start();
    const q = await quiet.delay("q");
    const l = await loud.delay("l");
    expect(await l.get({ timeoutMs: 10_000 })).toBe("l");
    // Acked means recorded: nothing more will be written for it.
    await waitFor("both messages to be acked", async () => worker.processed >= 2 && (await redis.hlen(`${prefix}unacked`)) === 0, 10_000);
    expect(ran).toEqual(["q"]);
    expect(await redis.exists(key(l.id))).toBe(1);
    expect(await redis.exists(key(q.id))).toBe(0);
    expect(await redis.hexists(`${prefix}ebb:results:info`, q.id)).toBe(0);
    expect(await redis.zscore(`${prefix}ebb:results:ttl`, q.id)).toBeNull();
    expect(await q.state()).toBe("PENDING");
  });
});
