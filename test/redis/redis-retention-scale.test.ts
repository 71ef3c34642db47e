import { afterEach, beforeEach, expect, it } from "vitest";
import type { StoredResult } from "../../src/backends/result-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";

// Store-only: a scan over 100k results reports each once (in pages of ties: the manual clock gives
// every result the same expiry), and scan + remove rates are printed. Not a timed test: numbers on
// a shared machine are noisy; `npm run bench` is where they are compared.
const N = 100_000;
const FOREIGN = 10_000;
const BATCH = 1_000;

await describeWithService("redis", "redis retention store: 100k results", () => {
  let ns: Awaited<ReturnType<typeof redisNamespace>>;
  let backend: RedisBackend;
  const clock = manualClock(Date.UTC(2026, 10, 24, 3));

  beforeEach(async () => {
    ns = await redisNamespace();
    backend = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000 }).connect();
  });
  afterEach(async () => {
    await backend.close();
    await ns.cleanup();
  });

  it(`scans ${N} Ebb results and ${FOREIGN} Celery keys once each, then removes them in batches`, { timeout: 240_000 }, async () => {
    const base: StoredResult = {
      taskId: "",
      status: "SUCCESS",
      result: { ok: true },
      traceback: null,
      children: [],
      dateDone: clock() - 10_000,
      expiresAt: clock() + 3_600_000,
      tier: null,
      action: "delete",
      held: false,
    };
    for (let i = 0; i < N; i += BATCH) {
      await Promise.all(Array.from({ length: BATCH }, (_, j) => backend.put({ ...base, taskId: `t-${i + j}` }, { replace: false })));
    }
    for (let i = 0; i < FOREIGN; i += BATCH) {
      const pipeline = ns.redis.pipeline();
      for (let j = i; j < i + BATCH; j++)
        pipeline.set(
          `${ns.prefix}celery-task-meta-c-${j}`,
          `{"status": "SUCCESS", "result": ${j}, "traceback": null, "children": [], "date_done": "2026-11-20T00:00:00.000001", "task_id": "c-${j}"}`,
        );
      await pipeline.exec();
    }

    // Past their expiry by the store clock; Redis's own TTL (one hour) keeps the values meanwhile.
    clock.advance(2 * 3_600_000);
    let started = performance.now();
    const seen = new Set<string>();
    const expired: ResultRecord[][] = [];
    for await (const batch of backend.scan({ batchSize: BATCH, expiresBy: clock() })) {
      expired.push(batch);
      for (const r of batch) seen.add(r.taskId);
    }
    const scanMs = performance.now() - started;
    expect(expired.flat()).toHaveLength(N);
    expect(seen.size).toBe(N);

    started = performance.now();
    let all = 0;
    for await (const batch of backend.scan({ batchSize: BATCH, doneBy: clock() })) all += batch.length;
    const fullScanMs = performance.now() - started;
    expect(all).toBe(N + FOREIGN);

    started = performance.now();
    let removed = 0;
    for (const batch of expired) removed += (await backend.remove(batch, { remember: true })).removed.length;
    const removeMs = performance.now() - started;
    expect(removed).toBe(N);

    const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000).toLocaleString("en")} results/s`;
    process.stdout.write(
      `[ebb redis retention] scan expiresBy: ${N} in ${scanMs.toFixed(0)} ms (${rate(N, scanMs)}); ` +
        `scan doneBy incl. SCAN of ${FOREIGN} Celery keys: ${N + FOREIGN} in ${fullScanMs.toFixed(0)} ms (${rate(N + FOREIGN, fullScanMs)}); ` +
        `remove (remember): ${N} in ${removeMs.toFixed(0)} ms (${rate(N, removeMs)})\n`,
    );
    expect(await backend.lookup("t-77", { graceMs: 86_400_000 })).toMatchObject({ kind: "expired" });
  });
});
