/**
 * A long task does not make the worker's heap grow while others finish around it. The fetch
 * loop used to wait for room with Promise.race over the in-flight promises; each race left a
 * reaction on every one of them until it settled, so a task running for minutes (or a held ETA
 * message) collected one per completion of the others: about 100 bytes per task, 87 MB after
 * 500k tasks in the memory benchmark.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { newApp } from "../app/helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe("worker heap while one task runs long", () => {
  it("stays flat over 40,000 short tasks that finish while one task waits", async () => {
    const app = newApp();
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const long = app.task("long", async () => {
      await blocked;
      return "done";
    });
    const short = app.task("short", async (i: number) => i, { ignoreResult: true });
    const worker = await app.worker({ concurrency: 4, prefetch: 4 });
    const running = worker.start();
    await long.delay();
    // Each batch waits for the worker to catch up, counting from what it processed before the
    // batch: the queue stays short, so what grows is the worker, not a backlog in the broker.
    let base = 0;
    const feed = async (n: number) => {
      for (let sent = 0; sent < n; sent += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, i) => short.delay(sent + i)));
        while (worker.processed < base + sent + 500) await new Promise((r) => setTimeout(r, 1));
      }
      base += n;
    };
    await feed(5_000); // warm up: statements, code, maps at their size
    const before = heapAfterGc();
    await feed(40_000);
    const grown = heapAfterGc() - before;
    release();
    await worker.stop();
    await running;
    // With the race, 40,000 completions left about 4 MB on the long task's promise.
    expect(grown).toBeLessThan(1_500_000);
  }, 120_000);
});
