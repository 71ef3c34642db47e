/**
 * runUnderLimits with injected timers: each limit fires when the test says, so nothing here
 * depends on how fast the machine is.
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { SoftTimeLimitExceeded, TimeLimitExceeded } from "../../src/errors.js";
import { encodeException } from "../../src/protocol/exception-info.js";
import { makeTaskMessage } from "../../src/protocol/task-message.js";
import { defineTask } from "../../src/task.js";
import { TaskLifecycle, type ActiveTask } from "../../src/worker/task-lifecycle.js";
import { limitsFor, runUnderLimits, type Timers } from "../../src/worker/time-limits.js";
import { silentLogger } from "../../src/logger.js";
import { collectingLogger, deferred } from "../app/helpers.js";

/** Timers that fire only when fire(ms) is called; cleared ones never do. */
function manualTimers(): Timers & { fire(ms: number): void; pending(): number[] } {
  let next = 0;
  const live = new Map<number, { fn: () => void; ms: number }>();
  return {
    setTimeout(fn, ms) {
      live.set(++next, { fn, ms });
      return next;
    },
    clearTimeout(handle) {
      live.delete(handle as number);
    },
    fire(ms) {
      for (const [h, t] of [...live]) {
        if (t.ms !== ms) continue;
        live.delete(h);
        t.fn();
      }
    },
    pending: () => [...live.values()].map((t) => t.ms).sort((a, b) => a - b),
  };
}

function activeTask(): ActiveTask {
  const message = makeTaskMessage({ task: "t.limited", args: [], id: "id-1" });
  return new TaskLifecycle(silentLogger).begin(message, {} as ActiveTask["delivery"], new AbortController().signal).task;
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe("runUnderLimits", () => {
  it("the soft limit aborts the task's signal with SoftTimeLimitExceeded; a handler that honours it rejects with it", async () => {
    const timers = manualTimers();
    const { log, lines } = collectingLogger();
    const task = activeTask();
    const run = runUnderLimits(
      { hardMs: null, softMs: 1_000 },
      task,
      () =>
        new Promise((_, reject) => {
          task.signal.addEventListener("abort", () => reject(task.signal.reason), { once: true });
        }),
      { log, timers },
    );
    expect(timers.pending()).toEqual([1_000]);
    await flush();
    expect(task.signal.aborted).toBe(false);
    timers.fire(1_000);
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SoftTimeLimitExceeded);
    expect(error).toBe(task.signal.reason);
    expect(encodeException(error)).toEqual({ exc_type: "SoftTimeLimitExceeded", exc_message: [], exc_module: "billiard.exceptions" });
    expect(lines).toContainEqual({ level: "warn", message: "Soft time limit (1s) exceeded for t.limited[id-1]" });
    expect(timers.pending()).toEqual([]);
  });

  it("an AbortError raised for the soft limit (timers/promises, events.once) is the SoftTimeLimitExceeded it carries", async () => {
    const timers = manualTimers();
    const task = activeTask();
    const run = runUnderLimits({ hardMs: null, softMs: 50 }, task, () => sleepFor(60_000, undefined, { signal: task.signal }), {
      log: collectingLogger().log,
      timers,
    });
    await flush();
    timers.fire(50);
    await expect(run).rejects.toBeInstanceOf(SoftTimeLimitExceeded);
  });

  it("a handler that catches the soft limit and returns succeeds, as in Python", async () => {
    const timers = manualTimers();
    const task = activeTask();
    const run = runUnderLimits(
      { hardMs: 2_000, softMs: 1_000 },
      task,
      async () => {
        try {
          await sleepFor(60_000, undefined, { signal: task.signal });
          return "slept";
        } catch {
          return "cleaned up";
        }
      },
      { log: collectingLogger().log, timers },
    );
    expect(timers.pending()).toEqual([1_000, 2_000]);
    timers.fire(1_000);
    expect(await run).toBe("cleaned up");
    expect(timers.pending()).toEqual([]); // the hard limit's timer is cleared, not left to fire
  });

  it("past the hard limit it rejects with TimeLimitExceeded at once, aborts the signal, and only logs what the handler does later", async () => {
    const timers = manualTimers();
    const { log, lines } = collectingLogger();
    const task = activeTask();
    const stuck = deferred<string>();
    let ended: unknown = null;
    const run = runUnderLimits({ hardMs: 4_000, softMs: null }, task, () => stuck.promise, {
      log,
      timers,
      onHardLimit: (e) => {
        ended = e;
      },
    });
    await flush();
    timers.fire(4_000);
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeLimitExceeded);
    expect(ended).toBe(error);
    expect(task.signal.reason).toBe(error);
    expect(encodeException(error)).toEqual({ exc_type: "TimeLimitExceeded", exc_message: [4], exc_module: "billiard.exceptions" });
    expect(lines.filter((l) => l.level === "error").map((l) => l.message)).toEqual([
      "Hard time limit (4s) exceeded for t.limited[id-1]; FAILURE stored, the handler is no longer waited for",
    ]);
    stuck.resolve("too late");
    await flush();
    expect(lines).toContainEqual({ level: "warn", message: "t.limited[id-1] returned after its hard time limit; its result is ignored" });
  });

  it("a late rejection of an abandoned handler is logged, never unhandled", async () => {
    const timers = manualTimers();
    const { log, lines } = collectingLogger();
    const stuck = deferred<string>();
    const run = runUnderLimits({ hardMs: 10, softMs: null }, activeTask(), () => stuck.promise, { log, timers });
    timers.fire(10);
    await expect(run).rejects.toBeInstanceOf(TimeLimitExceeded);
    stuck.reject(new Error("late boom"));
    await flush();
    expect(lines.at(-1)).toEqual({ level: "warn", message: "t.limited[id-1] ended after its hard time limit (Error: late boom); ignored" });
  });

  it("a handler that ends in time clears both timers and keeps its own result or error", async () => {
    const timers = manualTimers();
    const ok = await runUnderLimits({ hardMs: 2_000, softMs: 1_000 }, activeTask(), () => 42, { log: collectingLogger().log, timers });
    expect(ok).toBe(42);
    const boom = new Error("its own");
    await expect(
      runUnderLimits(
        { hardMs: 2_000, softMs: 1_000 },
        activeTask(),
        () => {
          throw boom;
        },
        { log: collectingLogger().log, timers },
      ),
    ).rejects.toBe(boom);
    expect(timers.pending()).toEqual([]);
  });

  it("a soft limit at or past the hard one sets no soft timer; a limit longer than a timer can keep is not enforced, with a warning", async () => {
    const timers = manualTimers();
    const { log, lines } = collectingLogger();
    const gate = deferred<number>();
    const run = runUnderLimits({ hardMs: 1_000, softMs: 1_000 }, activeTask(), () => gate.promise, { log, timers });
    expect(timers.pending()).toEqual([1_000]);
    gate.resolve(1);
    expect(await run).toBe(1);
    const far = runUnderLimits({ hardMs: 30 * 86_400_000, softMs: null }, activeTask(), () => 2, { log, timers });
    expect(timers.pending()).toEqual([]);
    expect(await far).toBe(2);
    expect(lines.at(-1)?.message).toMatch(/hard time limit of t\.limited\[id-1\] \(2592000s\) is longer than a timer can keep/);
  });
});

describe("limitsFor: which limits a task runs under", () => {
  const def = defineTask("t", () => null, { timeLimit: "20s", softTimeLimit: "10s" });
  const bare = defineTask("t", () => null);
  const worker = { timeLimitMs: 300_000, softTimeLimitMs: 240_000 };

  it("the message's (a call's) first, then the task's, then the worker's, each limit on its own", () => {
    const both = makeTaskMessage({ task: "t", args: [], timeLimitMs: 2_000, softTimeLimitMs: 1_000 });
    const hardOnly = makeTaskMessage({ task: "t", args: [], timeLimitMs: 2_000 });
    const none = makeTaskMessage({ task: "t", args: [] });
    expect(limitsFor(both, def, worker)).toEqual({ hardMs: 2_000, softMs: 1_000 });
    expect(limitsFor(hardOnly, def, worker)).toEqual({ hardMs: 2_000, softMs: 10_000 });
    expect(limitsFor(none, def, worker)).toEqual({ hardMs: 20_000, softMs: 10_000 });
    expect(limitsFor(none, bare, worker)).toEqual({ hardMs: 300_000, softMs: 240_000 });
    expect(limitsFor(none, bare, { timeLimitMs: null, softTimeLimitMs: null })).toEqual({ hardMs: null, softMs: null });
  });
});
