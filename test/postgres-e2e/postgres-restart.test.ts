import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, onTestFinished } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import type { AsyncResult } from "../../src/result.js";
import { EBB_BIN, EBB_INDEX, scratchDir, type WorkerProcess } from "../e2e/cli-harness.js";
import { dieWithParent } from "../support/die-with-parent.js";
import { describeWithService } from "../support/services.js";
import { sleep, waitFor } from "../support/wait.js";
import { PgCluster, type StopMode } from "./pg-cluster.js";

// The PostgreSQL failure test: the cluster under a running `ebb worker` (broker and result
// backend both in it) is stopped and started again mid-stream, and stays down for longer than
// the visibility timeout. Nothing published may be lost, no task id may end with two results, a
// result committed before the stop must be there unchanged after it, and the worker must carry
// on by itself. The cluster is the test's own (pg-cluster.ts), never the shared one on 5432.

const TOTAL = 300;
const BEFORE = 200; // published before the stop; 50 as soon as the server is back (the client cannot publish while it is down), 50 after
const OUTAGE_MS = 4_000; // > the visibility timeout (3s)
const CONCURRENCY = 4; // and as many prefetched (--prefetch): at most 8 messages leased at the stop

/** The worker's app: one task that notes each run of an id in a file, so reruns can be counted. */
function writeApp(dir: string, url: string, runsFile: string): string {
  const path = join(dir, "app.mjs");
  writeFileSync(
    path,
    `import { appendFileSync } from "node:fs";
import { createApp, currentTask } from ${JSON.stringify(EBB_INDEX)};
export const app = createApp({ broker: ${JSON.stringify(url)}, backend: ${JSON.stringify(url)}, visibilityTimeout: "3s" });
app.task("e2e.echo", async (n) => {
  appendFileSync(${JSON.stringify(runsFile)}, currentTask().id + "\\n");
  await new Promise((r) => setTimeout(r, 30));
  return n;
});
`,
  );
  return path;
}

/** `ebb worker` in a process of its own (the built binary), killed by the kernel if this process dies. */
function startWorker(args: string[], cwd: string): WorkerProcess {
  const [command, argv] = dieWithParent(process.execPath, [EBB_BIN, "worker", ...args]);
  const child = spawn(command, argv, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, log: () => log, exited };
}

interface ResultRow {
  task_id: string;
  status: string;
  result: string;
  date_done: string;
  expires_at: string;
  lane: number;
}

await describeWithService("postgres", "postgres e2e: a PostgreSQL restart under a running `ebb worker`", () => {
  let cluster: PgCluster;
  let dir: string;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    dir = scratchDir();
    cluster = await PgCluster.start();
  });
  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill("SIGKILL");
        await w.exited;
      }
    }
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each<StopMode>(["immediate", "fast"])(
    "stopped -m %s for longer than the visibility timeout: the worker carries on, committed results stay, all 300 tasks end SUCCESS with one result each",
    async (mode) => {
      if (!cluster.running) await cluster.start();
      const testStarted = performance.now();
      const schema = `ebb_restart_${mode}`;
      const url = cluster.url(schema);
      const runsFile = join(dir, `runs-${mode}.txt`);
      writeFileSync(runsFile, "");
      const runs = () => readFileSync(runsFile, "utf8").split("\n").filter(Boolean);
      const appFile = writeApp(dir, url, runsFile);
      const t = `${schema}.ebb_results`;

      // The publishing side: an app in this process on the same URL.
      const client: App = createApp({ broker: url, backend: url, resultTimeout: "30s" }, { log: silentLogger });
      onTestFinished(() => client.close().catch(() => undefined));
      await client.broker(); // makes the schema, so the worker and the queries below find it
      await client.backend();

      const worker = startWorker(["-A", appFile, "-c", String(CONCURRENCY), "--prefetch", String(CONCURRENCY)], dir);
      workers.push(worker);
      await waitFor("the worker to start consuming", () => worker.log().includes("consuming") || worker.child.exitCode !== null, 20_000);
      expect(worker.child.exitCode, worker.log()).toBeNull();

      let db = await cluster.client();
      const successes = async (ids?: string[]) => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(DISTINCT task_id)::int AS n FROM ${t} WHERE status = 'SUCCESS'${ids ? " AND task_id = ANY($1)" : ""}`,
          ids ? [ids] : [],
        );
        return rows[0]!.n;
      };
      const rowsOf = async (ids: string[]) =>
        (
          await db.query<ResultRow>(
            `SELECT task_id, status, result, date_done::text, expires_at::text, lane FROM ${t} WHERE task_id = ANY($1) ORDER BY task_id`,
            [ids],
          )
        ).rows;

      const sent: AsyncResult<number>[] = await Promise.all(
        Array.from({ length: BEFORE }, (_, i) => client.sendTask<number>("e2e.echo", [i])),
      );
      await waitFor("the worker to store 60 results", async () => (await successes()) >= 60, 20_000, 5);

      // What the worker has committed before the stop, row for row.
      const committed = (await db.query<ResultRow>(`SELECT task_id FROM ${t} WHERE status = 'SUCCESS'`)).rows.map((r) => r.task_id);
      const storedBefore = await rowsOf(committed);
      expect(storedBefore.length).toBeGreaterThan(0);
      expect(storedBefore.length).toBeLessThan(BEFORE); // midway, really
      await db.end();

      const stoppedAt = performance.now();
      await cluster.stop(mode);
      const runsAtStop = runs().length;

      // While it is down a publish is refused at once, naming the server: pg has no offline queue,
      // so a caller must retry (these 50 are published once the server is back).
      const refusedAt = performance.now();
      const refused = await client.sendTask("e2e.echo", [-1]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(StoreUnavailableError);
      expect((refused as Error).message).toContain(`127.0.0.1:${cluster.port}`);
      expect(performance.now() - refusedAt).toBeLessThan(5_000);

      // Down for longer than the visibility timeout: the leases of the messages in flight run out meanwhile.
      await sleep(OUTAGE_MS - (performance.now() - stoppedAt));
      expect(worker.child.exitCode, `the worker exited while PostgreSQL was down:\n${worker.log()}`).toBeNull();
      const restartMs = await cluster.start();
      const upAt = performance.now();
      db = await cluster.client();
      onTestFinished(() => db.end().catch(() => undefined));
      const storedAtUp = await successes();

      for (let i = BEFORE; i < BEFORE + 50; i++) sent.push(await client.sendTask<number>("e2e.echo", [i]));
      const firstAfter = await waitFor(
        "the worker to store a result after the restart",
        async () => (await successes()) > storedAtUp && performance.now(),
        15_000,
        5,
      );
      for (let i = BEFORE + 50; i < TOTAL; i++) sent.push(await client.sendTask<number>("e2e.echo", [i]));

      const ids = sent.map((r) => r.id);
      expect(new Set(ids).size).toBe(TOTAL);
      await waitFor(`all ${TOTAL} results`, async () => (await successes(ids)) === TOTAL, 30_000, 20);
      const allDone = performance.now();
      // Through Ebb's own API too: every task SUCCESS with its own result.
      expect(await Promise.all(sent.map((r) => r.get({ timeoutMs: 5_000 })))).toEqual(Array.from({ length: TOTAL }, (_, i) => i));

      // One result per id: the results table is partitioned by expiry, with no unique key across partitions.
      const doubled = await db.query(`SELECT task_id, count(*)::int AS n FROM ${t} GROUP BY task_id HAVING count(*) > 1`);
      expect(doubled.rows).toEqual([]);
      const all = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`);
      expect(all.rows[0]!.n).toBe(TOTAL); // the refused publish left nothing behind

      // Committed before the stop: still there, and not overwritten by a second run (a ready result is final).
      expect(await rowsOf(committed)).toEqual(storedBefore);

      // Every id ran; only messages leased at the stop (at most concurrency + prefetch) ran again.
      const ran = new Map<string, number>();
      for (const id of runs()) ran.set(id, (ran.get(id) ?? 0) + 1);
      for (const id of ids) expect(ran.get(id) ?? 0, `runs of ${id}`).toBeGreaterThanOrEqual(1);
      const reruns = [...ran.values()].reduce((a, b) => a + b, 0) - TOTAL;
      expect(reruns).toBeLessThanOrEqual(2 * CONCURRENCY);

      // Every message acked, none dead-lettered, and the worker LISTENs again: one LISTEN connection
      // on this schema's channel for the worker and one for this process's client, no more.
      await waitFor(
        "no message left in the queue",
        async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.ebb_messages`)).rows[0]!.n === 0,
        10_000,
      );
      expect((await db.query(`SELECT id FROM ${schema}.ebb_dead_letters`)).rows).toEqual([]);
      const listeners = async () =>
        (
          await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE starts_with(query, $1)`, [
            `LISTEN "ebb_broker.${schema}";`,
          ])
        ).rows[0]!.n;
      await waitFor("the worker's and the client's LISTEN connections to be back", async () => (await listeners()) >= 2, 15_000, 50);
      expect(await listeners()).toBe(2);
      expect(worker.log()).toContain("Listening for notifications on");

      // Still running by itself, and it stops cleanly on SIGTERM.
      expect(worker.child.exitCode, worker.log()).toBeNull();
      worker.child.kill("SIGTERM");
      expect(await worker.exited, worker.log()).toBe(0); // a hang is the test's timeout

      const log = worker.log().split("\n");
      const recovery = {
        mode,
        restartMs: Math.round(restartMs),
        firstResultAfterUpMs: Math.round(firstAfter - upAt),
        allDoneAfterUpMs: Math.round(allDone - upAt),
        reruns,
        runsAtStop,
        storedBefore: storedBefore.length,
        testMs: Math.round(performance.now() - testStarted),
      };
      console.log(
        `[postgres-restart] ${JSON.stringify(recovery)}; worker log: ${log.length} lines, ${log.filter((l) => /error|fail/i.test(l)).length} naming a failure`,
      );
      // Work resumes within the fetch backoff's cap (5 s) and a lease refresh, not after a long wait.
      expect(firstAfter - upAt).toBeLessThan(10_000);
    },
    60_000,
  );
});
