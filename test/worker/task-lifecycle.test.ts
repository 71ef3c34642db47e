import { describe, expect, it } from "vitest";
import { newApp } from "../app/helpers.js";
import { waitFor } from "../support/wait.js";

describe("a worker's task lifecycle", () => {
  it("tells each moment once, in order, and keeps the running task with a signal of its own", async () => {
    const app = newApp();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = app.task("slow", async (x: number) => {
      await gate;
      return x * 2;
    });
    const bad = app.task("bad", async () => {
      throw new Error("nope");
    });
    const worker = await app.worker({ concurrency: 2 });
    const seen: string[] = [];
    worker.lifecycle.on("received", (m) => seen.push(`received ${m.task}`));
    worker.lifecycle.on("started", (t) => seen.push(`started ${t.message.task}`));
    worker.lifecycle.on("succeeded", (m, info) => seen.push(`succeeded ${m.task} ${String(info.result)}`));
    worker.lifecycle.on("failed", (m, info) => seen.push(`failed ${m.task} ${(info.error as Error).message}`));
    worker.lifecycle.on("failed", () => {
      throw new Error("a broken listener changes nothing");
    });
    const running = worker.start();
    const r = await slow.delay(21);
    await waitFor("the slow task to be active", () => worker.lifecycle.active.length === 1);
    const active = worker.lifecycle.activeTask(r.id)!;
    expect(active.message.args).toEqual([21]);
    expect(active.signal.aborted).toBe(false);
    const f = await bad.delay();
    await waitFor("the failure to be told", () => seen.includes("failed bad nope"));
    release();
    expect(await r.get({ timeoutMs: 5_000 })).toBe(42);
    await expect(f.get({ timeoutMs: 5_000 })).rejects.toThrow(/nope/);
    await waitFor("the success to be told", () => seen.includes("succeeded slow 42"));
    expect(worker.lifecycle.active).toEqual([]);
    expect(seen.filter((s) => s.endsWith(" slow") || s.includes("slow "))).toEqual(["received slow", "started slow", "succeeded slow 42"]);
    await worker.stop();
    await running;
  });

  it("abort() reaches only that task's signal, with its reason", async () => {
    const app = newApp();
    const reasons: unknown[] = [];
    const t = app.task("waits", async () => {
      const { currentTask } = await import("../../src/task-context.js");
      const signal = currentTask().signal;
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      reasons.push(signal.reason);
      throw signal.reason;
    });
    const worker = await app.worker({ concurrency: 2 });
    const running = worker.start();
    const a = await t.delay();
    const b = await t.delay();
    await waitFor("both to run", () => worker.lifecycle.active.length === 2);
    worker.lifecycle.activeTask(a.id)!.abort(new Error("stop a"));
    await expect(a.get({ timeoutMs: 5_000 })).rejects.toThrow(/stop a/);
    expect(worker.lifecycle.activeTask(b.id)!.signal.aborted).toBe(false);
    worker.lifecycle.activeTask(b.id)!.abort(new Error("stop b"));
    await expect(b.get({ timeoutMs: 5_000 })).rejects.toThrow(/stop b/);
    expect(reasons.map((r) => (r as Error).message)).toEqual(["stop a", "stop b"]);
    await worker.stop();
    await running;
  });
});
