/**
 * A running task's signal is made only when asked for; until then `aborted` and `abortReason`
 * answer from the task's own abort() and from the worker's hard stop, and once made the signal
 * says the same.
 */
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logger.js";
import { makeTaskMessage } from "../../src/protocol/task-message.js";
import { TaskLifecycle, type ActiveTask } from "../../src/worker/task-lifecycle.js";

function begin(hardStop: AbortSignal) {
  const lifecycle = new TaskLifecycle(silentLogger);
  const message = makeTaskMessage({ task: "t.any", args: [], id: "id-1" });
  return { lifecycle, ...lifecycle.begin(message, {} as ActiveTask["delivery"], hardStop) };
}

describe("TaskLifecycle.begin", () => {
  it("an abort before the signal is made shows in the signal made afterwards", () => {
    const { task } = begin(new AbortController().signal);
    const reason = new Error("terminated");
    task.abort(reason);
    expect(task.aborted).toBe(true);
    expect(task.abortReason).toBe(reason);
    expect(task.signal.aborted).toBe(true);
    expect(task.signal.reason).toBe(reason);
  });

  it("a hard stop before or after the signal is made aborts it with the stop's reason", () => {
    const early = new AbortController();
    const a = begin(early.signal);
    early.abort(new Error("hard stop"));
    expect(a.task.aborted).toBe(true);
    expect((a.task.abortReason as Error).message).toBe("hard stop");
    expect((a.task.signal.reason as Error).message).toBe("hard stop");

    const late = new AbortController();
    const b = begin(late.signal);
    const signal = b.task.signal;
    expect(signal.aborted).toBe(false);
    expect(b.task.aborted).toBe(false);
    late.abort(new Error("later"));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe("later");
  });

  it("the first abort wins, and end() unlinks from the hard stop and forgets the task", () => {
    const stop = new AbortController();
    const { lifecycle, task, end } = begin(stop.signal);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0); // no signal asked for: no listener
    void task.signal;
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(1);
    task.abort("first");
    task.abort("second");
    expect(task.signal.reason).toBe("first");
    expect(lifecycle.activeTask("id-1")).toBe(task);
    end();
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
    expect(lifecycle.activeTask("id-1")).toBeUndefined();
  });
});
