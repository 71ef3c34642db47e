/**
 * Ebb on its embedded SQLite store (broker and backend the same file, sqlite:///<tmpdir>/bench.db)
 * against plainjob (npm, better-sqlite3), N no-op tasks, alternating rounds, medians. Each run
 * uses fresh files in a temp folder: bulk enqueue into one (timed, then thrown away), then one at a
 * time into another, whose queue the system's worker drains (timed inside the worker, first
 * handler call to N tasks done; peers/ebb-worker.ts, peers/plainjob-worker.ts).
 *   Ebb       app.sendTask with `width` in flight; app.sendMany in chunks; worker concurrency C,
 *             results stored in the same file
 *   plainjob  queue.add (synchronous: one at a time); queue.addMany in chunks; defineWorker with
 *             its defaults: one job at a time, done jobs kept (no return value stored)
 * liteque is left out, see LITEQUE_NOTE.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { better, defineQueue, type Logger } from "plainjob";
import { createApp, silentLogger } from "../src/index.js";
import { fixed, fmt, inFlight, median, printTable, ratio, spawnReady, timed, type Child } from "./harness.js";
import { drain } from "./worker-run.js";

export const LITEQUE_NOTE =
  "liteque 0.8.0 left out: it installs, but its dequeue runs an async function inside a better-sqlite3 transaction, which better-sqlite3 refuses since 11.10 (ours is 12.x): TypeError: Transaction function cannot return a promise";

export interface SqliteOptions {
  n: number;
  rounds: number;
  concurrency: number;
  width: number;
  chunkSize: number;
}

interface SqlitePeer {
  name: string;
  enqueue(dir: string, n: number): Promise<number>;
  bulk: { api: string; run(dir: string, n: number): Promise<number> };
  worker(dir: string, n: number): Promise<Child>;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const silent: Logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function peers(o: SqliteOptions): SqlitePeer[] {
  const ebbUrl = (dir: string) => `sqlite://${join(dir, "bench.db")}`;
  const withEbb = async (dir: string, fn: (app: ReturnType<typeof createApp>) => Promise<unknown>) => {
    const app = createApp({ broker: ebbUrl(dir), backend: ebbUrl(dir) }, { log: silentLogger });
    try {
      await app.broker(); // opened and migrated before the clock starts
      return await timed(() => fn(app));
    } finally {
      await app.close();
    }
  };
  const withPlainjob = async (dir: string, fn: (queue: ReturnType<typeof defineQueue>) => void) => {
    const queue = defineQueue({ connection: better(new Database(join(dir, "plainjob.db"))), logger: silent });
    try {
      return await timed(() => fn(queue));
    } finally {
      queue.close();
    }
  };
  return [
    {
      name: "Ebb",
      enqueue: (dir, n) => withEbb(dir, (app) => inFlight(n, o.width, (i) => app.sendTask("bench.noop", [i]))),
      bulk: {
        api: `app.sendMany, chunkSize ${o.chunkSize}`,
        run: (dir, n) =>
          withEbb(dir, (app) =>
            app.sendMany(
              "bench.noop",
              range(n).map((i) => [i]),
              { chunkSize: o.chunkSize },
            ),
          ),
      },
      worker: (dir, n) =>
        spawnReady(process.execPath, [here("./peers/ebb-worker.js"), ebbUrl(dir), String(o.concurrency), String(n)], /^ready$/m),
    },
    {
      name: "plainjob",
      enqueue: (dir, n) =>
        withPlainjob(dir, (queue) => {
          for (let i = 0; i < n; i++) queue.add("bench.noop", { i });
        }),
      bulk: {
        api: `queue.addMany, ${o.chunkSize} jobs a call`,
        run: (dir, n) =>
          withPlainjob(dir, (queue) => {
            for (let i = 0; i < n; i += o.chunkSize)
              queue.addMany(
                "bench.noop",
                range(Math.min(o.chunkSize, n - i)).map((j) => ({ i: i + j })),
              );
          }),
      },
      worker: (dir, n) =>
        spawnReady(process.execPath, [here("./peers/plainjob-worker.js"), join(dir, "plainjob.db"), String(n)], /^ready$/m),
    },
  ];
}

interface Run {
  enqueue: number;
  bulk: number;
  processed: number;
  workerCpuUs: number;
  maxRssMB: number;
  fileBytes: number;
}

const scratch = () => mkdtempSync(join(tmpdir(), "ebb-bench-sqlite-"));
const filesBytes = (dir: string) => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);

export async function sqliteCompare(o: SqliteOptions): Promise<void> {
  const systems = peers(o);
  const runs = new Map<string, Run[]>(systems.map((p) => [p.name, []]));
  for (let round = 1; round <= o.rounds; round++)
    for (const peer of systems) {
      const bulkDir = scratch();
      const dir = scratch();
      try {
        const bulkSeconds = await peer.bulk.run(bulkDir, o.n);
        rmSync(bulkDir, { recursive: true, force: true });
        const enqueueSeconds = await peer.enqueue(dir, o.n);
        const d = await drain(o.n, () => peer.worker(dir, o.n));
        const run = {
          enqueue: o.n / enqueueSeconds,
          bulk: o.n / bulkSeconds,
          processed: d.perSecond,
          workerCpuUs: d.workerCpuUs,
          maxRssMB: d.maxRssMB,
          fileBytes: filesBytes(dir) / o.n,
        };
        runs.get(peer.name)!.push(run);
        console.error(
          `sqlite round ${round}/${o.rounds}, ${peer.name}: enqueue ${fmt(run.enqueue)}/s, bulk ${fmt(run.bulk)}/s, processed ${fmt(run.processed)}/s`,
        );
      } finally {
        rmSync(bulkDir, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    }
  const med = (name: string, pick: (r: Run) => number) => median(runs.get(name)!.map(pick));
  printTable(
    `SQLite (one file, WAL, synchronous NORMAL in both): ${o.n.toLocaleString("en-US")} no-op tasks, ${o.rounds} alternating round${o.rounds === 1 ? "" : "s"}, medians; Ebb worker concurrency ${o.concurrency}, plainjob 0.0.14 one worker running one job at a time (its model; its README scales out with processes); ${LITEQUE_NOTE}`,
    systems.map((p) => ({
      system: p.name,
      "enqueue/s (1 at a time)": fmt(med(p.name, (r) => r.enqueue)),
      "bulk API": p.bulk.api,
      "bulk enqueue/s": fmt(med(p.name, (r) => r.bulk)),
      "processed/s": fmt(med(p.name, (r) => r.processed)),
      "vs Ebb": ratio(
        med(p.name, (r) => r.processed),
        med("Ebb", (r) => r.processed),
      ),
      "worker CPU µs/task": fmt(med(p.name, (r) => r.workerCpuUs)),
      "worker max RSS MB": fixed(med(p.name, (r) => r.maxRssMB)),
      "file B/task": fmt(med(p.name, (r) => r.fileBytes)),
    })),
    [
      `Ebb's one-at-a-time enqueue keeps ${o.width} sendTask calls in flight; plainjob's add is synchronous.`,
      "Ebb stores each task's result; plainjob keeps the done job row (no return value). Logging off in both workers.",
      "File B/task: the database files (with WAL) after the drain, ÷ N.",
    ],
  );
}
