/**
 * Time limits on a real (memory) worker. Limits are short real timers (100-300 ms), but nothing is
 * asserted after a sleep: the tests wait for states and events, and stuck handlers are released
 * by the test itself.
 */
import { describe, expect, it } from "vitest";
import { TaskFailedError } from "../../src/errors.js";
import { currentTask } from "../../src/task-context.js";
import { collectingLogger, deferred, newApp, startWorker, until } from "../app/helpers.js";

/** What get() rejects with, as a TaskFailedError. */
async function failureOf(res: { get(o: { timeoutMs: number }): Promise<unknown> }): Promise<TaskFailedError> {
  const e = await res.get({ timeoutMs: 10_000 }).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(TaskFailedError);
  return e as TaskFailedError;
}

/** Resolves when the signal aborts; rejects with its reason, as a handler that honours it would. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
}

describe("soft time limit", () => {
  it("aborts the handler's signal with SoftTimeLimitExceeded: a handler that honours it ends FAILURE SoftTimeLimitExceeded", async () => {
    const app = newApp();
    let abortedAt = 0;
    const t = app.task(
      "soft.honours",
      async () => {
        await untilAborted(currentTask().signal).finally(() => (abortedAt = performance.now()));
      },
      { softTimeLimit: "150ms" },
    );
    await startWorker(app);
    // The limit runs from when the worker starts the task (before the handler's first line, which
    // a busy machine may reach some ms later): no earlier than 150 ms after the call was sent.
    const sentAt = performance.now();
    const res = await t.delay();
    const e = await failureOf(res);
    expect([e.excType, e.excModule, e.excMessage]).toEqual(["SoftTimeLimitExceeded", "billiard.exceptions", []]);
    expect(abortedAt - sentAt).toBeGreaterThanOrEqual(149);
  });

  it("a handler that catches it and returns succeeds (as in Python); with no hard limit it is not stopped", async () => {
    const app = newApp();
    const t = app.task(
      "soft.cleans-up",
      async () => {
        const reason = await untilAborted(currentTask().signal).catch((r: unknown) => r);
        return `cleaned up after ${(reason as Error).name}`;
      },
      { softTimeLimit: "100ms" },
    );
    await startWorker(app);
    expect(await (await t.delay()).get({ timeoutMs: 10_000 })).toBe("cleaned up after SoftTimeLimitExceeded");
  });
});

describe("hard time limit", () => {
  it("stores FAILURE TimeLimitExceeded, acks, frees the slot while the stuck handler still runs, and ignores its late outcome", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    const stuck = deferred<string>();
    let lateSetExpires: unknown = null;
    let stuckFinished = false;
    const ignoresSignal = app.task(
      "hard.stuck",
      async () => {
        const value = await stuck.promise;
        try {
          currentTask().setResultExpires("1h");
        } catch (e) {
          lateSetExpires = e;
        }
        stuckFinished = true;
        return value;
      },
      { timeLimit: "200ms" },
    );
    const next = app.task("hard.next", async () => "ran beside the stuck one");
    const { worker } = await startWorker(app, { concurrency: 1 });
    const failed: string[] = [];
    worker.lifecycle.on("failed", (m, info) => failed.push(`${m.task} ${(info.error as Error).name}`));

    const res = await ignoresSignal.delay();
    const e = await failureOf(res);
    expect([e.excType, e.excModule, e.excMessage, e.traceback]).toEqual(["TimeLimitExceeded", "billiard.exceptions", [0.2], null]);
    expect(failed).toEqual(["hard.stuck TimeLimitExceeded"]);
    expect(lines.some((l) => l.level === "error" && /Hard time limit \(0\.2s\) exceeded for hard\.stuck\[/.test(l.message))).toBe(true);

    // Concurrency 1: the next task runs only because the stuck one's slot was freed.
    expect(await (await next.delay()).get({ timeoutMs: 10_000 })).toBe("ran beside the stuck one");
    expect(stuckFinished).toBe(false);
    expect(worker.lifecycle.active).toEqual([]);

    // The stuck handler returns at last: nothing it does is stored.
    stuck.resolve("too late");
    await until(() => stuckFinished, "the stuck handler to finish");
    expect((lateSetExpires as Error | null)?.name).toBe("TimeLimitExceeded");
    await until(
      () => lines.some((l) => /returned after its hard time limit; its result is ignored/.test(l.message)),
      "the late return to be logged",
    );
    const info = await res.info();
    expect([info.state, (info.result as { exc_type: string }).exc_type]).toEqual(["FAILURE", "TimeLimitExceeded"]);

    // Acked: nothing is left in the queue or leased to come back.
    const broker = await app.broker();
    expect(await broker.fetch(["celery"], 10, { visibilityTimeoutMs: 1, waitMs: 0 })).toEqual([]);
    expect(worker.processed).toBe(2);
  });

  it("is not retried by autoretryFor (Celery's hard limit kills the task); the soft one is an error like any other", async () => {
    const app = newApp();
    const hang = deferred<void>();
    let runs = 0;
    const t = app.task(
      "hard.autoretry",
      async () => {
        runs++;
        await hang.promise;
      },
      { timeLimit: "100ms", autoretryFor: () => true, retryDelay: "10ms" },
    );
    await startWorker(app);
    const e = await failureOf(await t.delay());
    expect(e.excType).toBe("TimeLimitExceeded");
    expect(runs).toBe(1);
    hang.resolve();
  });
});

describe("which limit applies", () => {
  // Each level gives a different hard limit; the stored TimeLimitExceeded says (in seconds) which one fired.
  async function limitThatFired(config: { timeLimit?: string }, task: { timeLimit?: string }, call: { timeLimit?: string }, worker = {}) {
    const app = newApp(config);
    const never = deferred<void>();
    const t = app.task("which.limit", () => never.promise, task);
    await startWorker(app, worker);
    const e = await failureOf(await t.applyAsync([], call));
    return e.excMessage;
  }

  it("the call's (the message header), else the task's, else the worker's, else the app's", async () => {
    expect(await limitThatFired({ timeLimit: "5m" }, { timeLimit: "3m" }, { timeLimit: "120ms" })).toEqual([0.12]);
    expect(await limitThatFired({ timeLimit: "5m" }, { timeLimit: "130ms" }, {}, { timeLimitMs: 60_000 })).toEqual([0.13]);
    expect(await limitThatFired({ timeLimit: "5m" }, {}, {}, { timeLimitMs: 140 })).toEqual([0.14]);
    expect(await limitThatFired({ timeLimit: "150ms" }, {}, {})).toEqual([0.15]);
  });
});

describe("timers", () => {
  const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

  it("are cleared when a task ends in time: 50 limited tasks leave no timer behind", async () => {
    const app = newApp();
    const t = app.task("timers.quick", async (i: number) => i, { timeLimit: "1h", softTimeLimit: "59m" });
    const { worker } = await startWorker(app, { concurrency: 5 });
    await (await t.delay(-1)).get({ timeoutMs: 10_000 });
    await until(() => worker.active === 0, "the first task's slot to be free");
    const before = timeouts();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => t.delay(i)));
    await Promise.all(results.map((r) => r.get({ timeoutMs: 10_000 })));
    await until(() => worker.active === 0, "every slot to be free");
    // Uncleared, each task would leave two one-hour timers (100); the worker's own fetch wait may come and go.
    expect(timeouts()).toBeLessThanOrEqual(before + 2);
  });
});
