import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { SOAK_MS, runSoak, verify, type SoakOutcome } from "./beat-soak.js";
import { scratchDir } from "./cli-harness.js";

// The beat must-show on real processes (see beat-soak.ts): five `ebb beat` and two `ebb worker`
// processes on one store, killed and restarted at random, one of them on a host clock 30 s
// ahead. Each tick of each entry runs exactly once; ticks go missing only while every process
// was down, and then the catch-up policy sends exactly what it says. The two stores run one
// after the other (tests in a file are sequential), so the soaks do not load the machine twice.

async function soakOn(url: string, dir: string): Promise<void> {
  const outcome: SoakOutcome = await runSoak(dir, url);
  const app = createApp({ broker: url, backend: url }, { log: silentLogger });
  try {
    const store = await app.scheduleStore();
    for (const entry of ["second", "minute", "pair"]) outcome.fires.push(...(await store.history(entry, 1_000)));
  } finally {
    await app.close();
  }
  const verdict = verify(outcome);
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
  it(`on SQLite: 7 processes, random SIGKILLs, ${SOAK_MS / 1000} s: each tick exactly once, catch-up as the policy says`, async () => {
    const dir = scratchDir();
    try {
      await soakOn(`sqlite://${join(dir, "soak.db")}`, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, SOAK_MS + 120_000);
});

await describeWithService("redis", "beat soak", () => {
  it(`on Redis: 7 processes, random SIGKILLs, ${SOAK_MS / 1000} s: each tick exactly once, catch-up as the policy says`, async () => {
    const dir = scratchDir();
    const ns = await redisNamespace();
    try {
      await soakOn(ns.url, dir);
    } finally {
      await ns.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  }, SOAK_MS + 120_000);
});
