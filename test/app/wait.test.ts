/**
 * How get() waits, and where time comes from when a test injects a clock.
 */
import { describe, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { clockedApp, newApp, startWorker } from "./helpers.js";

const success = (taskId: string): StoreRequest => ({
  taskId,
  status: "SUCCESS",
  result: "landed",
  traceback: null,
  children: [],
  lifetimeMs: 60_000,
  tier: null,
  action: "delete",
});

describe("get() wakes up when the result is stored", () => {
  // Regression: get() used to read the result and only then register for changes, so a result
  // stored in between woke nobody and get() slept out the 5 s poll interval (with an in-process
  // worker that was the normal case). Fixed by watch-before-look (ResultBackend.watch()).
  it("a result stored right after get()'s first read is returned promptly, not after the 5 s poll", async () => {
    const app = newApp();
    const backend = await app.backend();
    const res = app.asyncResult("lands-in-the-gap");
    // Simulate a worker whose store() lands just after get() has read "missing".
    const lookup = backend.lookup.bind(backend);
    let reads = 0;
    backend.lookup = async (id, options) => {
      const seen = await lookup(id, options);
      if (++reads === 1) await backend.store(success(id));
      return seen;
    };
    const started = performance.now();
    expect(await res.get({ timeoutMs: 15_000 })).toBe("landed");
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("with an in-process worker, delay().get() of a trivial task returns well within a second", async () => {
    const app = newApp();
    const add = app.task("add", async (a: number, b: number) => a + b);
    await startWorker(app);
    const started = performance.now();
    expect(await (await add.delay(2, 3)).get({ timeoutMs: 15_000 })).toBe(5);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("a result stored while get() is already waiting wakes it at once", async () => {
    const app = newApp();
    const backend = await app.backend();
    const res = app.asyncResult("stored-later");
    const waiting = res.get({ timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 50)); // let get() read "missing" and start waiting
    const started = performance.now();
    await backend.store(success(res.id));
    expect(await waiting).toBe("landed");
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe("an injected clock", () => {
  it("createApp({ clock }) reaches the memory:// stores: results are stamped and expire by it", async () => {
    const { app, clock, backend } = await clockedApp();
    expect(await backend.now()).toBe(clock());
    clock.advance(123_456);
    expect(await backend.now()).toBe(clock());
    const t = app.task("t", async () => 1, { resultExpires: "10s" });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    expect((await res.info()).dateDone).toBe(new Date(clock()).toISOString());
  });

  it("createApp({ clock }) reaches the memory:// broker: a countdown message is not handed out before the clock passes it", async () => {
    const { app, clock, broker } = await clockedApp();
    const t = app.task("later", async () => 1);
    await t.applyAsync([], { countdown: "30s" });
    const fetch = () => broker.fetch(["celery"], 10, { visibilityTimeoutMs: 60_000, waitMs: 0 });
    expect(await fetch()).toEqual([]);
    clock.advance(29_999);
    expect(await fetch()).toEqual([]);
    clock.advance(1);
    expect(await fetch()).toHaveLength(1);
  });

  it("without a clock, the memory stores use the system clock", async () => {
    const app = newApp();
    const now = await (await app.backend()).now();
    expect(Math.abs(now - Date.now())).toBeLessThan(5_000);
  });
});
