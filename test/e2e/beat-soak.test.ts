import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { redisNamespace, type RedisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { SOAK_MS, runSoak, verify, type SoakOutcome } from "./beat-soak.js";
import { scratchDir } from "./cli-harness.js";

// The beat must-show on real processes (see beat-soak.ts): five `ebb beat` and two `ebb worker`
// processes on one store, killed and restarted at random, one of them on a host clock 30 s
// ahead. Each tick of each entry runs exactly once; ticks go missing only while every process
// was down, and then the catch-up policy sends exactly what it says. The two stores run one
// after the other (tests in a file are sequential), so the soaks do not load the machine twice.

async function soakOn(url: string, dir: string, where: (taskId: string) => Promise<string> = async () => "?"): Promise<void> {
  const outcome: SoakOutcome = await runSoak(dir, url);
  const app = createApp({ broker: url, backend: url }, { log: silentLogger });
  const verdict = { problems: [] as string[], stats: {} as Record<string, number> };
  try {
    const store = await app.scheduleStore();
    for (const entry of ["second", "minute", "pair"]) outcome.fires.push(...(await store.history(entry, 1_000)));
    Object.assign(verdict, verify(outcome));
    // Say where a tick that never ran went: its fire in the store, its result, its message.
    for (const [i, p] of verdict.problems.entries()) {
      const m = /^(\w+): tick (\S+) never ran/.exec(p);
      const fire = m && outcome.fires.find((f) => f.entry === m[1] && f.tick === Date.parse(m[2]!));
      if (m)
        verdict.problems[i] =
          `${p} [${fire ? `fire ${fire.taskId} claimed ${new Date(fire.claimedAt).toISOString()} sent ${fire.sentAt === null ? "never" : new Date(fire.sentAt).toISOString()} result ${await app.asyncResult(fire.taskId).state()} message ${await where(fire.taskId)}` : "no fire in the store"}]`;
    }
  } finally {
    await app.close();
  }
  if (verdict.problems.length > 0) {
    const keep = mkdtempSync(join(tmpdir(), "ebb-beat-soak-failed-"));
    cpSync(dir, keep, { recursive: true });
    verdict.problems.push(`process logs kept in ${keep}`);
  }
  process.stderr.write(`[beat soak ${url.split(":")[0]}] ${JSON.stringify(verdict.stats)}\n`);
  expect(verdict.problems, `${outcome.log}${JSON.stringify(verdict.stats)}`).toEqual([]);
  expect(verdict.stats.kills).toBeGreaterThan(20);
  expect(verdict.stats.downWindows).toBe(2);
  expect(verdict.stats["second.catchUps"]).toBeGreaterThanOrEqual(2);
  expect(verdict.stats["second.ticks"]).toBeGreaterThan(SOAK_MS / 1000 - 30);
  expect(verdict.stats["minute.ticks"]).toBeGreaterThanOrEqual(Math.floor(SOAK_MS / 60_000) - 1);
  expect(outcome.fires.every((f) => f.sentAt !== null)).toBe(true);
}

describe("beat soak", () => {
  it(
    `on SQLite: 7 processes, random SIGKILLs, ${SOAK_MS / 1000} s: each tick exactly once, catch-up as the policy says`,
    async () => {
      const dir = scratchDir();
      try {
        await soakOn(`sqlite://${join(dir, "soak.db")}`, dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    SOAK_MS + 120_000,
  );
});

await describeWithService("redis", "beat soak", () => {
  it(
    `on Redis: 7 processes, random SIGKILLs, ${SOAK_MS / 1000} s: each tick exactly once, catch-up as the policy says`,
    async () => {
      const dir = scratchDir();
      const ns = await redisNamespace();
      try {
        await soakOn(ns.url, dir, (id) => whereInRedis(ns, id));
      } finally {
        await ns.cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    SOAK_MS + 120_000,
  );
});

/** Where a message with this task id sits in the namespace: which keys hold it (SCAN, never KEYS). */
async function whereInRedis(ns: RedisNamespace, taskId: string): Promise<string> {
  const found: string[] = [];
  for (let cursor = "0"; ; ) {
    const [next, keys] = await ns.redis.scan(cursor, "MATCH", `${ns.prefix}*`, "COUNT", 1000);
    for (const key of keys) {
      const type = await ns.redis.type(key);
      const text =
        type === "list"
          ? (await ns.redis.lrange(key, 0, -1)).join()
          : type === "hash"
            ? Object.values(await ns.redis.hgetall(key)).join()
            : type === "string"
              ? ((await ns.redis.get(key)) ?? "")
              : "";
      if (text.includes(taskId) && !key.includes("celery-task-meta") && !key.includes("ebb:beat")) found.push(key.slice(ns.prefix.length));
    }
    cursor = next;
    if (cursor === "0") break;
  }
  return found.length === 0 ? "in no queue or unacked entry (lost)" : `in ${found.join(", ")}`;
}
