/**
 * Celery's canvas on Ebb workers (memory broker and backend): link and link_error callbacks,
 * chains (the parent's result first, immutable signatures without it, a failure stored down the
 * chain), chords (counted in the backend, body sent by the last part, ChordError when a part
 * fails), and Ebb's own chain/group/chord API.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { chain, chord, group } from "../../src/canvas/canvas-api.js";
import { createApp, type App } from "../../src/app.js";
import { TaskFailedError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { waitFor } from "../support/wait.js";
import { collectingLogger, memUrl, newApp, startWorker } from "../app/helpers.js";

/** add, mul, tsum, fail and a recorder of errback calls, registered on `app`. */
function tasks(app: App) {
  const errbacks: unknown[][] = [];
  return {
    errbacks,
    add: app.task("t.add", async (a: number, b: number) => a + b),
    mul: app.task("t.mul", async (a: number, b: number) => a * b),
    tsum: app.task("t.tsum", async (xs: number[]) => xs.reduce((s, x) => s + x, 0)),
    fail: app.task("t.fail", async (..._args: unknown[]) => {
      throw new RangeError("no good");
    }),
    onError: app.task("t.on_error", async (...args: unknown[]) => {
      errbacks.push(args);
      return args[0];
    }),
  };
}

const T = { timeoutMs: 10_000 };

describe("canvas on Ebb workers", () => {
  it("runs a chain: each step gets the previous result first; the last step's result is the chain's", async () => {
    const app = newApp();
    const { add, mul } = tasks(app);
    await startWorker(app, { concurrency: 2 });
    const res = await chain(add.s(1, 2), add.s(3), mul.s(2)).applyAsync();
    expect(await res.get(T)).toBe(12);
  });

  it("gives an immutable step (si) only its own args", async () => {
    const app = newApp();
    const { add, mul } = tasks(app);
    await startWorker(app, { concurrency: 1 });
    const res = await chain(add.s(1, 2), mul.si(5, 5), add.s(1)).applyAsync();
    expect(await res.get(T)).toBe(26);
  });

  it("runs link callbacks with the result prepended", async () => {
    const app = newApp();
    const { add, mul } = tasks(app);
    await startWorker(app, { concurrency: 1 });
    const cb = mul.s(10).set({ taskId: "cb-1" });
    const res = await add.s(2, 3).link(cb).applyAsync();
    expect(await res.get(T)).toBe(5);
    expect(await app.asyncResult("cb-1").get(T)).toBe(50);
  });

  it("on failure sends link_error errbacks with the task id, and stores the FAILURE on every later chain step", async () => {
    const app = newApp();
    const { add, fail, onError, errbacks } = tasks(app);
    await startWorker(app, { concurrency: 1 });
    const failing = fail.s().linkError(onError.s());
    const res = await chain(add.s(1, 1), failing, add.s(100).set({ taskId: "after-fail" })).applyAsync();
    // Waiting on the chain's last step fails (not hangs): the failure was stored down the chain.
    const err = await res.get(T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect((err as TaskFailedError).excType).toBe("RangeError");
    expect(res.id).toBe("after-fail");
    await waitFor("the errback to run", () => errbacks.length === 1, 5_000);
    // The errback got the failed task's id (Celery's old-style errback call).
    const failedId = errbacks[0]![0] as string;
    expect(await app.asyncResult(failedId).state()).toBe("FAILURE");
  });

  it("runs a chord: the body gets the header's results in header order", async () => {
    const app = newApp();
    const { add, tsum } = tasks(app);
    const slow = app.task("t.slow", async (x: number) => {
      await new Promise((r) => setTimeout(r, 30 - x * 5));
      return x;
    });
    const collect = app.task("t.collect", async (xs: number[]) => xs);
    await startWorker(app, { concurrency: 4 });
    const res = await chord(
      [0, 1, 2, 3, 4].map((i) => add.s(i, i)),
      tsum.s(),
    ).applyAsync();
    expect(await res.get(T)).toBe(20);
    // Finished in reverse order (the slow ones first in the header), still collected in header order.
    const ordered = await chord(
      [0, 1, 2, 3, 4].map((i) => slow.s(i)),
      collect.s(),
    ).applyAsync();
    expect(await ordered.get(T)).toEqual([0, 1, 2, 3, 4]);
  });

  it("fails a chord's body with ChordError when a header part fails, and sends the body's errbacks", async () => {
    const app = newApp();
    const { add, fail, tsum, onError, errbacks } = tasks(app);
    await startWorker(app, { concurrency: 2 });
    const body = tsum.s().linkError(onError.s());
    const res = await chord([add.s(1, 1), fail.s(), add.s(2, 2)], body).applyAsync();
    const err = (await res.get(T).catch((e: unknown) => e)) as TaskFailedError;
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err.excType).toBe("ChordError");
    expect(String(err.message)).toMatch(/Dependency \S+ raised RangeError\('no good'\)/);
    await waitFor("the body's errback to run", () => errbacks.length === 1, 5_000);
    expect(errbacks[0]).toEqual([res.id]);
  });

  it("runs a group and a chain ending in a chord (group then a step)", async () => {
    const app = newApp();
    const { add, mul, tsum } = tasks(app);
    await startWorker(app, { concurrency: 3 });
    const g = await group(add.s(1, 1), add.s(2, 2), mul.s(3, 3)).applyAsync();
    expect(await g.get(T)).toEqual([2, 4, 9]);
    // chain(a, group(...), b) is chain(a, chord(group, b)): each member gets a's result.
    const res = await chain(add.s(1, 1), group(add.s(10), add.s(20)), tsum.s()).applyAsync();
    expect(await res.get(T)).toBe(34);
  });

  it("runs a Celery message whose callbacks are plain dicts (as a Python client sends them)", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    tasks(app);
    await startWorker(app, { concurrency: 1 });
    const cb = { task: "t.mul", args: [3], kwargs: {}, options: { task_id: "py-cb" }, subtask_type: null, immutable: false };
    const msg = makeTaskMessage({ task: "t.add", args: [1, 1], embed: { callbacks: [cb], errbacks: null, chain: null, chord: null } });
    await (await app.broker()).publish(encodeTaskMessage(msg), { queue: "celery", priority: 0, availableAt: null });
    expect(await app.asyncResult("py-cb").get(T)).toBe(6);
    expect(lines.filter((l) => l.level !== "info")).toEqual([]);
  });

  it("logs a malformed callback with the links it carried, and still acks the stored result", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    tasks(app);
    await startWorker(app, { concurrency: 1 });
    const msg = makeTaskMessage({
      task: "t.add",
      args: [1, 1],
      embed: { callbacks: [{ args: [] }], errbacks: null, chain: null, chord: null },
    });
    await (await app.broker()).publish(encodeTaskMessage(msg), { queue: "celery", priority: 0, availableAt: null });
    expect(await app.asyncResult(msg.id).get(T)).toBe(2);
    const line = await waitFor("the error line", () => lines.find((l) => l.level === "error"), 5_000);
    expect(line.message).toContain(msg.id);
    expect(line.message).toContain("no task name");
    expect(line.message).toContain('"callbacks":[{"args":[]}]');
  });

  it("runs a chord with the SQLite result backend (its own table)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-canvas-"));
    const app = createApp({ broker: memUrl(), backend: `sqlite://${join(dir, "ebb.db")}` }, { log: silentLogger });
    onTestFinished(async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const { add, tsum } = tasks(app);
    await startWorker(app, { concurrency: 2 });
    const res = await chord([add.s(1, 2), add.s(3, 4), add.s(5, 6)], tsum.s()).applyAsync();
    expect(await res.get(T)).toBe(21);
  });
});
