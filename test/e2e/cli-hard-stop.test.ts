import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ebb, eventually, scratchDir, startWorker, writeApp, type WorkerProcess } from "./cli-harness.js";

/**
 * The second SIGTERM/SIGINT stops `ebb worker` at once, even when a task ignores its abort
 * signal: exit 130, and the message in flight is not acked but goes back to the queue, so the
 * next worker runs it again. The visibility timeout is an hour here, so only the give-back can
 * bring it back within the test.
 */
const APP = `
import { existsSync } from "node:fs";
export const app = createApp({ broker: db, backend: db, visibilityTimeout: "1h" });
app.task("stubborn", async (runsFile) => {
  const first = !existsSync(runsFile);
  appendFileSync(runsFile, "start\\n");
  if (first) await new Promise((r) => setTimeout(r, 60_000)); // ignores currentTask().signal
  return "done";
});
app.task("shout", async () => {
  console.error("x".repeat(100_000)); // the worker's stderr: its log reader may be gone
  return "ok";
});
`;

let dir: string;
const workers: WorkerProcess[] = [];

beforeAll(() => {
  dir = scratchDir();
  writeApp(dir, APP);
});

afterEach(async () => {
  for (const w of workers.splice(0)) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
  }
});

const runsOf = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : []);

describe("ebb worker: the second signal stops at once", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s twice: exit 130 without waiting for a task that ignores its signal; the message runs again on the next worker",
    async (signal) => {
      const runs = join(dir, `runs-${signal}.txt`);
      const first = startWorker(["-A", "app.mjs", "-c", "1", "--without-beat"], { cwd: dir });
      workers.push(first);
      const sent = await ebb(["call", "stubborn", "-A", "app.mjs", "--json", "--args", JSON.stringify([runs])], { cwd: dir });
      expect(sent.code, sent.stderr).toBe(0);
      const id = (JSON.parse(sent.stdout) as { id: string }).id;
      await eventually(() => (runsOf(runs).length === 1 ? true : undefined), 15_000, "the first run to start");

      first.child.kill(signal);
      await eventually(() => (first.log().includes("Stopping: finishing 1 task(s)") ? true : undefined), 10_000, "the warm stop to begin");
      const secondAt = Date.now();
      first.child.kill(signal);
      const code = await first.exited;
      const tookMs = Date.now() - secondAt;
      expect(code, first.log()).toBe(130);
      // The task would hold the process for 60 s; "at once" leaves room for a loaded machine.
      expect(tookMs, first.log()).toBeLessThan(5_000);
      expect(first.log()).toContain("not acknowledged; they will run again");

      // Not acked: the message is still in the queue, with no result stored.
      const db = new Database(join(dir, "ebb.db"), { readonly: true });
      try {
        expect(db.prepare("SELECT count(*) AS n FROM ebb_messages").get()).toEqual({ n: 1 });
        expect(db.prepare("SELECT count(*) AS n FROM ebb_results WHERE task_id = ?").get(id)).toEqual({ n: 0 });
      } finally {
        db.close();
      }

      const second = startWorker(["-A", "app.mjs", "-c", "1", "--without-beat"], { cwd: dir });
      workers.push(second);
      const r = await ebb(["result", id, "-A", "app.mjs", "--json", "--wait", "20s"], { cwd: dir, timeoutMs: 30_000 });
      expect(JSON.parse(r.stdout), second.log()).toMatchObject({ state: "SUCCESS", result: "done" });
      expect(runsOf(runs)).toEqual(["start", "start"]);
    },
  );
});

describe("ebb worker: a closed stderr stops nothing", () => {
  it("keeps working, and stores results, after the reader of its log goes away", async () => {
    const w = startWorker(["-A", "app.mjs", "-c", "1", "--without-beat"], { cwd: dir });
    workers.push(w);
    await eventually(() => (w.log().includes("consuming") ? true : undefined), 15_000, "the worker to start");
    w.child.stderr!.destroy(); // the log reader dies: the worker's next writes get EPIPE
    const sent = await ebb(["call", "shout", "-A", "app.mjs", "--json"], { cwd: dir });
    const id = (JSON.parse(sent.stdout) as { id: string }).id;
    const r = await ebb(["result", id, "-A", "app.mjs", "--json", "--wait", "20s"], { cwd: dir, timeoutMs: 30_000 });
    expect(JSON.parse(r.stdout)).toMatchObject({ state: "SUCCESS", result: "ok" });
    expect(w.child.exitCode).toBeNull();
  });
});
