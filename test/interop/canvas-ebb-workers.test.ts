import { afterAll, beforeAll, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import { pyCanvas, registerCanvasTasks } from "./canvas-client.js";
import { describeInterop, ebbSide, type EbbSide } from "./harness.js";

/**
 * A Python Celery client's canvas, every step forced onto Ebb workers: only an Ebb worker runs,
 * with the tasks registered under the Python names. Chains, chords and link_error complete as
 * Celery's client expects (python/canvas_client.py applies them and waits with get()).
 */

/** Task ids the Ebb worker ran. */
const ran = new Set<string>();
let ebb: EbbSide;

await describeInterop("Python canvas → Ebb workers only (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    ebb = ebbSide(redis.url, (app) => {
      const run = registerCanvasTasks(app, ran);
      app.task(
        "interop.fail",
        run((_kind: string, message: string) => {
          throw new TypeError(message);
        }),
      );
      app.task(
        "interop.on_error",
        run(async (failedId: string) => {
          await redis.client.rpush("interop:errbacks", `ebb:${failedId}`);
          return failedId;
        }),
      );
    });
    await ebb.startWorker(4);
  });
  afterAll(async () => {
    await ebb?.close();
  });

  it("completes chain(add.s(1, 2), add.s(3), mul.s(2)).get() with every step on the Ebb worker", async () => {
    const r = await pyCanvas(redis.url, {
      chain: [
        { task: "interop.add", args: [1, 2] },
        { task: "interop.add", args: [3] },
        { task: "interop.mul", args: [2] },
      ],
    });
    expect(r).toMatchObject({ state: "SUCCESS", result: 12, timed_out: false });
    expect(r.lineage).toHaveLength(3);
    for (const id of r.lineage) expect(ran.has(id as string)).toBe(true);
  });

  it("completes chord([add.s(i, i) for i in range(5)], tsum.s()).get() on the Ebb worker", async () => {
    const header = [0, 1, 2, 3, 4].map((i) => ({ task: "interop.add", args: [i, i] }));
    const r = await pyCanvas(redis.url, { chord: header, body: { task: "interop.tsum" } });
    expect(r).toMatchObject({ state: "SUCCESS", result: 20, timed_out: false });
    const [parts, body] = r.lineage as [string[], string];
    expect(parts).toHaveLength(5);
    for (const id of [...parts, body]) expect(ran.has(id)).toBe(true);
    // The counting keys are gone once the body was sent (Celery deletes them too).
    expect(await redis.client.keys("celery-taskset-meta-*")).toEqual([]);
  });

  it("runs a failing step's link_error errback and fails the rest of the chain for Celery's get()", async () => {
    await redis.client.del("interop:errbacks");
    const r = await pyCanvas(redis.url, {
      chain: [
        { task: "interop.add", args: [1, 1] },
        // Immutable (si): it gets its own args, not the parent's result before them.
        { task: "interop.fail", args: ["value", "nope"], immutable: true, link_error: { task: "interop.on_error" } },
        { task: "interop.add", args: [5] },
      ],
    });
    // get() on the chain's last step: the failure was stored down the chain, so it does not hang.
    expect(r).toMatchObject({ state: "FAILURE", timed_out: false });
    expect(r.exception).toMatchObject({ class: "TypeError", args: ["nope"] });
    const failedId = r.lineage[1] as string;
    const calls = await waitFor("the errback to run", async () => {
      const list = await redis.client.lrange("interop:errbacks", 0, -1);
      return list.length > 0 ? list : undefined;
    });
    expect(calls).toEqual([`ebb:${failedId}`]);
  });

  it("fails a chord's body with Celery's ChordError when a header part fails", async () => {
    const r = await pyCanvas(redis.url, {
      chord: [
        { task: "interop.add", args: [1, 1] },
        { task: "interop.fail", args: ["value", "bad part"] },
      ],
      body: { task: "interop.tsum" },
    });
    expect(r.state).toBe("FAILURE");
    expect(r.exception?.class).toBe("ChordError");
    expect(String(r.exception?.args[0])).toMatch(/^Dependency \S+ raised TypeError\('bad part'\)$/);
  });
});
