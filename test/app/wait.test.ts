/**
 * How get() waits, and where time comes from when a test injects a clock.
 */
import { describe, expect, it } from "vitest";
import type { ResultBackend, StoreRequest } from "../../src/backends/result-backend.js";
import { clockedApp, deferred, newApp, startWorker } from "./helpers.js";

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

/** get()'s own poll, stretched far past any test's timeout: get() can only return by being woken. */
const NO_POLL_MS = 3_600_000;
/** How long a woken get() may take on a loaded machine: generous, and far below the poll it would otherwise sleep out. */
const WAKE_DEADLINE_MS = 10_000;

/**
 * Stretch every wait of get() on this backend to an hour, so a get() that returns was woken by
 * the store's change, never by its 5 s poll, however slow the machine. `waiting` resolves once
 * get() is waiting (it has looked and found nothing).
 */
function withoutPolling(backend: ResultBackend): { waiting: Promise<void> } {
  const waiting = deferred();
  const watch = backend.watch.bind(backend);
  backend.watch = async (id) => {
    const w = await watch(id);
    const stop = new AbortController();
    return {
      changed: (_ms, signal) => {
        waiting.resolve();
        return w.changed(NO_POLL_MS, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal);
      },
      close: () => {
        stop.abort();
        w.close();
      },
    };
  };
  return { waiting: waiting.promise };
}

/** The value get() returns, or a failure naming the missed wake-up. */
async function woken<T>(get: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const missed = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`get() was not woken within ${WAKE_DEADLINE_MS} ms: it would have slept out its poll`)),
      WAKE_DEADLINE_MS,
    );
  });
  try {
    return await Promise.race([get, missed]);
  } finally {
    clearTimeout(timer);
  }
}

describe("get() wakes up when the result is stored", () => {
  // Regression: get() used to read the result and only then register for changes, so a result
  // stored in between woke nobody and get() slept out the 5 s poll interval (with an in-process
  // worker that was the normal case). Fixed by watch-before-look (ResultBackend.watch()).
  it("a result stored right after get()'s first read wakes it, rather than waiting for the poll", async () => {
    const app = newApp();
    const backend = await app.backend();
    withoutPolling(backend);
    const res = app.asyncResult("lands-in-the-gap");
    // Simulate a worker whose store() lands just after get() has read "missing".
    const lookup = backend.lookup.bind(backend);
    let reads = 0;
    backend.lookup = async (id, options) => {
      const seen = await lookup(id, options);
      if (++reads === 1) await backend.store(success(id));
      return seen;
    };
    expect(await woken(res.get({ timeoutMs: Infinity }))).toBe("landed");
  });

  it("with an in-process worker, delay().get() of a trivial task is woken by the stored result", async () => {
    const app = newApp();
    const add = app.task("add", async (a: number, b: number) => a + b);
    withoutPolling(await app.backend());
    await startWorker(app);
    expect(await woken((await add.delay(2, 3)).get({ timeoutMs: Infinity }))).toBe(5);
  });

  it("a result stored while get() is already waiting wakes it", async () => {
    const app = newApp();
    const backend = await app.backend();
    const { waiting } = withoutPolling(backend);
    const res = app.asyncResult("stored-later");
    const got = woken(res.get({ timeoutMs: Infinity }));
    await waiting; // get() has read "missing" and is waiting
    await backend.store(success(res.id));
    expect(await got).toBe("landed");
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
