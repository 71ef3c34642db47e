import { afterAll, beforeAll, expect, it } from "vitest";
import { chain, chord } from "../../src/canvas/canvas-api.js";
import type { Worker } from "../../src/worker/worker.js";
import { waitFor } from "../support/wait.js";
import { pyCanvas, registerCanvasTasks } from "./canvas-client.js";
import { describeInterop, ebbSide, startPythonWorker, type EbbSide, type PythonWorker } from "./harness.js";

/**
 * One canvas, steps split between a Python Celery worker (queue "celery") and an Ebb worker
 * (queue "ebb"), routed per step with .set(queue=...). Both kinds run steps of one chain and of
 * one chord, whichever side applied it; and a canvas built with Ebb's chain()/chord() runs on a
 * Python worker alone.
 */

const ran = new Set<string>();
let ebb: EbbSide;
let ebbWorker: { worker: Worker; done: Promise<void> } | undefined;
let py: PythonWorker;
const T = { timeoutMs: 30_000 };

/**
 * Ran on the Python worker: Celery logs "Task NAME[ID] succeeded" just after storing the result,
 * so a caller can see the result a moment before the line: wait for it (bounded).
 */
const ranOnPython = (id: string): Promise<boolean> =>
  waitFor(`task ${id} in the Python worker's log`, () => py.log().includes(`[${id}] succeeded`), 10_000);

await describeInterop("Canvas steps mixed between Python and Ebb workers (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      registerCanvasTasks(app, ran);
    });
    const worker = await ebb.app.worker({ concurrency: 4, fetchWaitMs: 500, queues: ["ebb"] });
    ebbWorker = { worker, done: worker.start() };
    py = await startPythonWorker(redis.url);
  });
  afterAll(async () => {
    await py?.stop();
    if (ebbWorker) {
      await ebbWorker.worker.stop();
      await ebbWorker.done;
    }
    await ebb?.close();
  });

  it("a Python chain: Ebb, Python, Ebb steps complete chain(...).get()", async () => {
    const r = await pyCanvas(redis.url, {
      chain: [
        { task: "interop.add", args: [1, 2], queue: "ebb" },
        { task: "interop.add", args: [3] },
        { task: "interop.mul", args: [2], queue: "ebb" },
      ],
    });
    expect(r).toMatchObject({ state: "SUCCESS", result: 12, timed_out: false });
    const [first, second, third] = r.lineage as string[];
    expect([ran.has(first!), await ranOnPython(second!), ran.has(third!)]).toEqual([true, true, true]);
    expect(ran.has(second!)).toBe(false);
  });

  it("a Python chord: header parts on both kinds, the body on Ebb, then on Python", async () => {
    const header = [0, 1, 2, 3, 4].map((i) => ({ task: "interop.add", args: [i, i], ...(i % 2 === 0 ? { queue: "ebb" } : {}) }));
    for (const body of [{ task: "interop.tsum", queue: "ebb" }, { task: "interop.tsum" }]) {
      const r = await pyCanvas(redis.url, { chord: header, body });
      expect(r).toMatchObject({ state: "SUCCESS", result: 20, timed_out: false });
      const [parts, bodyId] = r.lineage as [string[], string];
      // Even parts were routed to Ebb, odd ones to Python.
      for (const [i, id] of parts.entries()) expect(i % 2 === 0 ? ran.has(id) : await ranOnPython(id)).toBe(true);
      expect(ran.has(parts[1]!) || ran.has(parts[3]!)).toBe(false);
      expect(body.queue === "ebb" ? ran.has(bodyId) : await ranOnPython(bodyId)).toBe(true);
    }
  });

  it("an Ebb-built chain and chord run on the Python worker alone", async () => {
    const { app } = ebb;
    const add = (...args: number[]) => app.signature<number>("interop.add", args);
    const res = await chain(add(1, 2), add(3), app.signature<number>("interop.mul", [2])).applyAsync();
    expect(await res.get(T)).toBe(12);
    expect(await ranOnPython(res.id)).toBe(true);
    const sum = await chord(
      [0, 1, 2, 3, 4].map((i) => add(i, i)),
      app.signature<number>("interop.tsum"),
    ).applyAsync();
    expect(await sum.get(T)).toBe(20);
    expect(await ranOnPython(sum.id)).toBe(true);
    expect(ran.has(sum.id)).toBe(false);
  });

  it("an Ebb-built chord split between both kinds", async () => {
    const { app } = ebb;
    const parts = [0, 1, 2, 3].map((i) => app.signature<number>("interop.add", [i, 10], i % 2 ? { queue: "ebb" } : {}));
    const res = await chord(parts, app.signature<number>("interop.tsum", [], { queue: "ebb" })).applyAsync();
    expect(await res.get(T)).toBe(46);
    expect(ran.has(res.id)).toBe(true);
  });

  it("an Ebb-built link_error runs on the Python worker when its step fails there", async () => {
    const { app } = ebb;
    await redis.client.del("interop:errbacks");
    const failing = app.signature("interop.fail", ["value", "py boom"]).linkError(app.signature("interop.on_error"));
    const res = await failing.applyAsync();
    await expect(res.get(T)).rejects.toMatchObject({ excType: "ValueError" });
    const calls = await waitFor("the Python errback", async () => {
      const list = await redis.client.lrange("interop:errbacks", 0, -1);
      return list.length > 0 ? list : undefined;
    });
    expect(calls).toEqual([`python:${res.id}`]);
  });
});
