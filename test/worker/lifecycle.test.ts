/**
 * Graceful stop and concurrency. Handlers await promises the test controls, so nothing here
 * depends on how long a task takes; short waits (letItRun) only give a broken worker the chance
 * to misbehave, they are never the proof that something happened.
 */
import { describe, expect, it } from "vitest";
import { decodeTaskMessage } from "../../src/protocol/task-message.js";
import { currentTask } from "../../src/task-context.js";
import { deferred, letItRun, newApp, startWorker } from "../app/helpers.js";

describe("graceful stop", () => {
  it("stop() waits for the task in flight, its result is stored, and nothing new is fetched after stop()", async () => {
    const app = newApp();
    const started = deferred();
    const gate = deferred();
    const events: string[] = [];
    let laterRuns = 0;
    const slow = app.task("slow", async (n: number) => {
      started.resolve();
      await gate.promise;
      events.push("handler finished");
      return n * 2;
    });
    const later = app.task("later", async () => ++laterRuns);
    const { worker, running } = await startWorker(app, { concurrency: 4 });

    const res = await slow.delay(21);
    await started.promise;
    expect(worker.active).toBe(1);

    const stopping = worker.stop().then(() => events.push("stop resolved"));
    const afterStop = await later.delay(); // published after stop(): must stay in the queue
    await letItRun(100);
    expect(events).toEqual([]); // stop() has not resolved while the handler is still waiting
    expect(await res.state()).toBe("PENDING");

    gate.resolve();
    await stopping;
    await running;
    expect(events).toEqual(["handler finished", "stop resolved"]);
    // Stored before stop() resolved: read it without waiting.
    expect(await res.get({ timeoutMs: 0 })).toBe(42);
    expect(worker.active).toBe(0);

    expect(laterRuns).toBe(0);
    expect(await afterStop.state()).toBe("PENDING");
    const broker = await app.broker();
    const left = await broker.fetch(["celery"], 10, { visibilityTimeoutMs: 60_000, waitMs: 0 });
    expect(left.map((d) => decodeTaskMessage(d.message!, d.queue).id)).toEqual([afterStop.id]);
  });

  it("start() resolves after stop(); stop() on an idle worker resolves promptly", async () => {
    const app = newApp();
    const { worker, running } = await startWorker(app, { fetchWaitMs: 60_000 });
    let done = false;
    void running.then(() => (done = true));
    await letItRun(20);
    expect(done).toBe(false);
    const t0 = performance.now();
    await worker.stop(); // a fetch waiting 60 s is interrupted
    await running;
    expect(done).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe("concurrency", () => {
  it("with concurrency 3 and 6 tasks waiting on a shared gate, exactly 3 run at once", async () => {
    const app = newApp();
    const gate = deferred();
    const threeRunning = deferred();
    let running = 0;
    let maxRunning = 0;
    let startedCount = 0;
    const t = app.task("gated", async (i: number) => {
      running++;
      startedCount++;
      maxRunning = Math.max(maxRunning, running);
      if (running === 3) threeRunning.resolve();
      await gate.promise;
      running--;
      return i;
    });
    // Publish all six first, so a worker that ignored its limit would take them all at once.
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => t.delay(i)));
    const { worker } = await startWorker(app, { concurrency: 3 });

    await threeRunning.promise;
    await letItRun(100);
    expect(running).toBe(3);
    expect(startedCount).toBe(3);
    expect(worker.active).toBe(3);

    gate.resolve();
    expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 15_000 })))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(startedCount).toBe(6);
    expect(maxRunning).toBe(3);
  });

  it("concurrency 30 with 30 tasks running at once: no MaxListenersExceededWarning, and a hard stop still aborts every one", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const gate = deferred();
    try {
      const app = newApp();
      const allRunning = deferred();
      const signals: AbortSignal[] = [];
      const t = app.task("gated", async () => {
        signals.push(currentTask().signal);
        if (signals.length === 30) allRunning.resolve();
        await gate.promise;
      });
      await Promise.all(Array.from({ length: 30 }, () => t.delay()));
      const { worker } = await startWorker(app, { concurrency: 30 });
      await allRunning.promise;
      // Node emits the warning on process.nextTick when the 11th listener is added: a macrotask
      // later, it has been emitted if it ever will be.
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
      worker.abort();
      expect(signals.filter((s) => s.aborted)).toHaveLength(30);
    } finally {
      gate.resolve(); // also when an assertion failed: the handlers end, and so does the test
      process.off("warning", onWarning);
    }
  });

  it("a freed slot is filled: the 4th task starts only when one of the first 3 finishes", async () => {
    const app = newApp();
    const gates = Array.from({ length: 4 }, () => deferred());
    const startedEvents = Array.from({ length: 4 }, () => deferred());
    const order: string[] = [];
    const t = app.task("gated", async (i: number) => {
      order.push(`start ${i}`);
      startedEvents[i]!.resolve();
      await gates[i]!.promise;
      order.push(`end ${i}`);
      return i;
    });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await t.delay(i)); // FIFO: 0, 1, 2, 3
    await startWorker(app, { concurrency: 3 });
    await Promise.all(startedEvents.slice(0, 3).map((s) => s.promise));
    await letItRun(100);
    expect(order).toEqual(["start 0", "start 1", "start 2"]);

    gates[1]!.resolve();
    await startedEvents[3]!.promise;
    expect(order).toEqual(["start 0", "start 1", "start 2", "end 1", "start 3"]);
    for (const g of gates) g.resolve();
    expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 15_000 })))).toEqual([0, 1, 2, 3]);
  });
});

describe("abort()", () => {
  it("aborts currentTask().signal; an interrupted task is not stored as a failure and runs again on the next worker", async () => {
    const { currentTask } = await import("../../src/task-context.js");
    const app = newApp();
    let runs = 0;
    const t = app.task("cancellable", async () => {
      runs++;
      if (runs > 1) return "second run";
      const signal = currentTask().signal;
      await new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      return "never";
    });
    const first = await app.worker({ concurrency: 1, fetchWaitMs: 20 });
    const running = first.start();
    const res = await t.delay();
    while (runs === 0) await new Promise((r) => setTimeout(r, 5));
    first.abort();
    await running;
    expect(await res.state()).toBe("PENDING"); // not FAILURE: the stop was ours, not the task's
    await startWorker(app, { concurrency: 1 });
    expect(await res.get({ timeoutMs: 10_000 })).toBe("second run");
    expect(runs).toBe(2);
  });
});
