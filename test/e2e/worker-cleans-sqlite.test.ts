import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { silentLogger } from "../../src/logger.js";
import { EBB_INDEX, ebb, eventually, scratchDir, startWorker, writeApp, type WorkerProcess } from "./cli-harness.js";

// The embedded default cleans itself: only `ebb worker` runs (beat embedded), on a fresh SQLite
// app whose cleanup entry runs every 10 s. Results with a 2 s lifetime leave the database file
// within 15 s of being stored; permanent and held results stay. The file is read directly.
let worker: WorkerProcess | null = null;
let dir = "";
afterEach(async () => {
  worker?.child.kill("SIGKILL");
  await worker?.exited;
  worker = null;
  rmSync(dir, { recursive: true, force: true });
});

it("with only `ebb worker` running, 2 s results are gone from the SQLite file within 15 s; permanent and held ones remain", async () => {
  dir = scratchDir();
  const app = writeApp(
    dir,
    `import { every } from ${JSON.stringify(EBB_INDEX)};
export const app = createApp({ broker: db, backend: db, archiveDir: ${JSON.stringify(join(dir, "archives"))}, beatSchedule: { "celery.backend_cleanup": { schedule: every("10s") } } });
app.task("echo", async (v) => v);`,
  );
  worker = startWorker(["-A", app, "-c", "4"], { cwd: dir });
  await eventually(() => (worker!.log().includes("consuming") ? true : undefined), 15_000, `the worker to start:\n${worker.log()}`);

  // A client (not a worker) sends the tasks; only the `ebb worker` process runs and cleans.
  const client = createApp(
    { broker: `sqlite://${join(dir, "ebb.db")}`, backend: `sqlite://${join(dir, "ebb.db")}` },
    { log: silentLogger },
  );
  const send = async (resultExpires: string | null) => (await client.sendTask("echo", ["x"], { resultExpires })).id;
  const short = [await send("2s"), await send("2s"), await send("2s")];
  const permanent = await send(null);
  const held = await send("2s");
  const db = new Database(join(dir, "ebb.db"), { readonly: true, fileMustExist: true });
  const doneAt = (id: string) =>
    (db.prepare("SELECT date_done FROM ebb_results WHERE task_id = ?").get(id) as { date_done: number } | undefined)?.date_done;
  const inFile = (id: string) => doneAt(id) !== undefined;
  try {
    // Each result lives at least its 2 s in the file, so polling sees every one of them.
    const stored = new Map<string, number>();
    await eventually(
      () => {
        for (const id of [...short, permanent, held]) if (!stored.has(id) && inFile(id)) stored.set(id, doneAt(id)!);
        return stored.size === 5 ? true : undefined;
      },
      10_000,
      `every result to be stored\n${worker!.log()}`,
    );
    expect(await client.retention.hold(held)).toBe(true);

    const gone = new Map<string, number>();
    await eventually(
      () => {
        for (const id of short) if (!gone.has(id) && !inFile(id)) gone.set(id, Date.now());
        return gone.size === short.length ? true : undefined;
      },
      20_000,
      `the 2 s results to leave the file\n${worker!.log()}`,
    );
    for (const id of short) expect(gone.get(id)! - stored.get(id)!, id).toBeLessThanOrEqual(15_000);
    expect(inFile(permanent)).toBe(true);
    expect(inFile(held)).toBe(true);
    // The cleanup run that did it is on record in the same file, and the ids still read EXPIRED.
    const runs = db.prepare("SELECT count(*) AS n FROM ebb_cleanup_runs").get() as { n: number };
    expect(runs.n).toBeGreaterThanOrEqual(1);
    const r = await ebb(["result", short[0]!, "-A", app, "--json"], { cwd: dir });
    expect(JSON.parse(r.stdout).state).toBe("EXPIRED");
  } finally {
    db.close();
    await client.close();
  }
}, 60_000);
