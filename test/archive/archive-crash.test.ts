import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { restoreResults } from "../../src/archive/restore-results.js";
import type { StoredResult } from "../../src/backends/result-backend.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { openDatabase } from "../../src/sqlite/open-database.js";
import { allIds, DAY, done, HOUR, scratch } from "./helpers.js";

/**
 * THE must-show: `ebb archive --delete` killed with SIGKILL at random points over 100k results,
 * rerun after each kill, then run to completion. After every kill and at the end, the results
 * in the store plus those in complete archives are exactly the original set. Runs the built
 * CLI as a user would (npm test builds first; `npm run build` before running this file alone).
 */
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(REPO, "dist/src/cli/main.js");
const N = 100_000;

/** dist/src/cli/main.js once program.ts registers `archive`; until then the same commands through a small entry over dist. */
function ebbEntry(): string {
  const help = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8" });
  return /\barchive\b/.test(help.stdout) ? MAIN : join(REPO, "test/archive/archive-cli-entry.mjs");
}

/** mulberry32: the kill points are random, and the seed is printed so a failure can be replayed (EBB_CRASH_SEED). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** EBB_CRASH_SEED when set (a whole number), else one from the clock. */
function crashSeed(): number {
  const given = process.env.EBB_CRASH_SEED;
  if (given === undefined || given === "") return Date.now() % 1_000_000;
  if (!/^\d+$/.test(given)) throw new Error(`EBB_CRASH_SEED must be a whole number, got ${JSON.stringify(given)}`);
  return Number(given);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, exited: () => boolean): Promise<boolean> {
  while (!check()) {
    if (exited()) return false;
    await sleep(5);
  }
  return true;
}

describe("archive --delete under SIGKILL (built CLI)", () => {
  const s = scratch();
  afterAll(() => s.cleanup());
  const db = join(s.dir, "ebb.db");
  const file = join(s.dir, "a.jsonl.gz");
  const url = `sqlite://${db}`;

  async function seed(): Promise<string[]> {
    const store = new SqliteBackend({ url });
    const handle = openDatabase(db);
    const now = await store.now();
    const rows: StoredResult[] = [];
    for (let i = 0; i < N; i++) rows.push(done(`t-${String(i).padStart(6, "0")}`, now, HOUR, DAY, { result: { i, s: `v${i}` } }));
    for (let i = 0; i < 100; i++) rows.push(done(`held-${i}`, now, HOUR, DAY, { held: true }), done(`permanent-${i}`, now, HOUR, null));
    // One transaction: put() runs its statements synchronously, so they all land inside it.
    handle.db.transaction(() => rows.forEach((r) => void store.put(r, { replace: false })))();
    handle.close();
    await store.close();
    return rows.map((r) => r.taskId).sort();
  }

  /** What the store and the complete archive hold now. */
  async function state(): Promise<{ stored: string[]; archived: string[] }> {
    const store = new SqliteBackend({ url });
    try {
      const stored = await allIds(store);
      const archived: string[] = [];
      if (existsSync(`${file}.manifest.json`)) {
        const out = await restoreResults(file, { onEntry: (e) => archived.push(e.line.task_id) });
        expect(out).toMatchObject({ bad: 0, manifest: { sha256Ok: true } });
      }
      return { stored, archived: archived.sort() };
    } finally {
      await store.close();
    }
  }

  /** `log` (its first line names the seed) goes into every failure message, so a failure says how to replay it. */
  function checkNothingLost(original: string[], now: { stored: string[]; archived: string[] }, log: string[]): void {
    const at = `\n${log.join("\n")}`;
    expect(new Set(now.archived).size, `an id twice in the archive${at}`).toBe(now.archived.length);
    const union = [...new Set([...now.stored, ...now.archived])].sort();
    expect(union.length, `store ∪ archive differs from the original set${at}`).toBe(original.length);
    expect(union, `store ∪ archive differs from the original set${at}`).toEqual(original);
    expect(
      now.archived.filter((id) => !id.startsWith("t-")),
      `held or permanent results archived${at}`,
    ).toEqual([]);
  }

  it("leaves every result in the store or in a complete, verified archive, and a rerun finishes the job", {
    timeout: 170_000,
  }, async () => {
    // The seed first, before anything can fail, so any failure can be replayed with EBB_CRASH_SEED.
    const seedValue = crashSeed();
    process.stderr.write(
      `[archive-crash] seed ${seedValue} (replay: EBB_CRASH_SEED=${seedValue} npx vitest run test/archive/archive-crash.test.ts)\n`,
    );
    // Not skipped when dist is missing: this is the must-show, so say what to do instead.
    expect(existsSync(join(REPO, "dist/src/archive/archive-results.js")), "run `npm run build` first: this test runs the built CLI").toBe(
      true,
    );
    const random = rng(seedValue);
    const original = await seed();
    const entry = ebbEntry();
    const args = [entry, "archive", "--older-than", "0s", "--to", file, "--delete", "--backend", url, "--json"];
    const manifestThere = () => existsSync(`${file}.manifest.json`);
    // A second connection only counts rows, so the test can see the delete phase begin (WAL: it never blocks the writer).
    const reader = new Database(db, { readonly: true });
    const count = reader.prepare<[], number>("SELECT count(*) FROM ebb_results").pluck();
    let before = 0;
    // Where each kill aims: anywhere early, while FILE.tmp is being written or verified, and twice in the delete phase.
    const plan: { aim: string; wait: (exited: () => boolean) => Promise<boolean>; delayMs: () => number }[] = [
      { aim: "anywhere", wait: async () => true, delayMs: () => 200 + random() * 1500 },
      { aim: "writing", wait: (x) => until(() => existsSync(`${file}.tmp`), x), delayMs: () => random() * 1500 },
      { aim: "writing/verifying", wait: (x) => until(() => existsSync(`${file}.tmp`), x), delayMs: () => 1000 + random() * 3000 },
      { aim: "deleting", wait: (x) => until(manifestThere, x), delayMs: () => random() * 400 },
      { aim: "deleting (rerun)", wait: (x) => until(() => count.get()! < before, x), delayMs: () => random() * 150 },
    ];
    const log: string[] = [`seed ${seedValue}, entry ${entry === MAIN ? "main.js" : "archive-cli-entry.mjs"}`];
    let deleteKills = 0;
    for (const step of plan) {
      before = count.get()!;
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      let exitedCode: number | null | undefined;
      const exited = new Promise<void>((resolve) =>
        child.on("exit", (code) => {
          exitedCode = code;
          resolve();
        }),
      );
      const started = performance.now();
      const reached = await step.wait(() => exitedCode !== undefined);
      const delay = step.delayMs();
      await Promise.race([sleep(delay), exited]);
      const inDelete = manifestThere();
      const killed = exitedCode === undefined && child.kill("SIGKILL");
      await exited;
      const now = await state();
      log.push(
        `${step.aim}: ${killed ? `killed at ${Math.round(performance.now() - started)} ms` : `finished first (exit ${exitedCode}) ${stderr.trim()}`}, reached=${reached}, manifest=${inDelete}, stored=${now.stored.length}, archived=${now.archived.length}`,
      );
      // A kill in the middle of removing: the archive complete, some of its results gone from the store, some not.
      if (killed && inDelete && now.stored.length > 200 && now.stored.length < N + 200) deleteKills += 1;
      checkNothingLost(original, now, log);
    }
    reader.close();
    const final = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 120_000 });
    log.push(`final: exit ${final.status} ${final.stdout.trim()}`);
    console.log(log.join("\n"));
    expect(final.status, `${final.stderr}\n${log.join("\n")}`).toBe(0);
    const out = JSON.parse(final.stdout);
    expect(out).toMatchObject({ archived: N, kept: 0, file });
    const end = await state();
    checkNothingLost(original, end, log);
    expect(end.archived).toHaveLength(N);
    expect(end.stored.filter((id) => end.archived.includes(id))).toEqual([]);
    expect(end.stored).toHaveLength(200);
    expect(readdirSync(s.dir).filter((n) => n.endsWith(".tmp") || n.endsWith(".lock"))).toEqual([]);
    expect(deleteKills, `no kill landed while results were being removed:\n${log.join("\n")}`).toBeGreaterThanOrEqual(1);
  });
});
