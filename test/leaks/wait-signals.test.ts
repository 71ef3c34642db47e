/**
 * Waits against long-lived signals leave nothing behind on them (nodejs/node #55351: on Node 20,
 * AbortSignal.any([short, long]) records the combined signal on `long` for good; an idle SQLite
 * worker polled 20 times a second and grew by about 120 MB a day).
 */
import { getEventListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import { PubSubWatcher } from "../../src/backends/redis/pubsub-watcher.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { SqliteBroker } from "../../src/brokers/sqlite/sqlite-broker.js";
import { ChangeHub } from "../../src/change-hub.js";
import { Closing } from "../../src/closing.js";
import { withLinkedSignal } from "../../src/linked-signal.js";

/**
 * What hangs on a signal: its abort listeners, plus the signals AbortSignal.any made dependent on it
 * (Node keeps those in an internal set that getEventListeners does not show; on a Node without
 * that set, it counts 0 and the listener count still holds the test).
 */
function attached(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  const set = dependants ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants] : undefined;
  return getEventListeners(signal, "abort").length + (set?.size ?? 0);
}

/** Collects process warnings (MaxListenersExceededWarning) emitted while `run` runs. */
async function warningsDuring(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onWarning = (w: Error): void => void seen.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  try {
    await run();
    // Node emits warnings on the next tick.
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off("warning", onWarning);
  }
  return seen;
}

const WAITS = 200;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ebb-leaks-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("withLinkedSignal", () => {
  it("aborts the wait when any source aborts, and leaves no listener on the sources", async () => {
    const long = new AbortController();
    const short = new AbortController();
    const seen = withLinkedSignal(
      [long.signal, short.signal],
      (s) => new Promise<boolean>((resolve) => s!.addEventListener("abort", () => resolve(true), { once: true })),
    );
    expect(attached(long.signal)).toBe(1);
    short.abort();
    expect(await seen).toBe(true);
    expect(attached(long.signal)).toBe(0);
  });

  it("passes an already aborted source as an aborted signal", async () => {
    const long = new AbortController();
    const done = AbortSignal.abort();
    expect(await withLinkedSignal([long.signal, done], async (s) => s!.aborted)).toBe(true);
    expect(attached(long.signal)).toBe(0);
  });
});

describe("Closing", () => {
  it("ends every pending wait on close(), and later ones at once", async () => {
    const closing = new Closing();
    let aborted = 0;
    const ended = Array.from({ length: 50 }, () =>
      closing.during(
        undefined,
        (s) =>
          new Promise<void>((resolve) =>
            s.addEventListener(
              "abort",
              () => {
                aborted++;
                resolve();
              },
              { once: true },
            ),
          ),
      ),
    );
    expect(aborted).toBe(0);
    closing.close();
    // close() aborts them synchronously: every wait has seen its abort before anything awaits.
    expect(aborted).toBe(50);
    await Promise.all(ended);
    expect(await closing.during(undefined, async (s) => s.aborted)).toBe(true);
  });
});

describe("many waits against one long-lived signal leave nothing on it", () => {
  it("ChangeHub.wait (the SQLite and memory brokers' fetch)", async () => {
    const hub = new ChangeHub();
    const stop = new AbortController();
    const closing = new AbortController();
    for (let i = 0; i < WAITS; i++) await hub.wait("q", 0, [stop.signal, closing.signal]);
    expect(attached(stop.signal)).toBe(0);
    expect(attached(closing.signal)).toBe(0);
  });

  it("SqliteBroker.fetch with the worker's stop signal (an idle SQLite worker)", async () => {
    const broker = new SqliteBroker({ url: `sqlite://${join(dir, "ebb.db")}`, pollIntervalMs: 1 });
    const stop = new AbortController();
    try {
      // Each fetch waits a few times on the change hub before it gives up.
      for (let i = 0; i < 50; i++)
        expect(await broker.fetch(["q"], 1, { visibilityTimeoutMs: 60_000, waitMs: 5, signal: stop.signal })).toEqual([]);
      expect(attached(stop.signal)).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it("SqliteBackend watches (result.get() with a caller's signal)", async () => {
    const backend = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}` });
    const caller = new AbortController();
    try {
      const watch = await backend.watch("t1");
      for (let i = 0; i < WAITS; i++) await watch.changed(0, caller.signal);
      watch.close();
      expect(attached(caller.signal)).toBe(0);
    } finally {
      await backend.close();
    }
  });

  it("CeleryDbBackend watches", async () => {
    const backend = new CeleryDbBackend({ url: `db+sqlite:///${join(dir, "celery.db")}` });
    const caller = new AbortController();
    const watch = await backend.watch();
    for (let i = 0; i < WAITS; i++) await watch.changed(0, caller.signal);
    expect(attached(caller.signal)).toBe(0);
    await backend.close();
  });

  it("PubSubWatcher watches, subscribed and polling", async () => {
    const caller = new AbortController();
    const closing = new Closing();
    const subscriber = {
      status: "ready",
      on: () => subscriber,
      subscribe: async () => 1,
      unsubscribe: async () => 1,
      quit: async () => "OK",
    } as unknown as Redis;
    const live = new PubSubWatcher({ openSubscriber: async () => subscriber, closing });
    const polling = new PubSubWatcher({ openSubscriber: () => Promise.reject(new Error("no pub/sub here")), closing, pollMs: 0 });
    for (const watcher of [live, polling]) {
      const watch = await watcher.watch("celery-task-meta-t1");
      for (let i = 0; i < WAITS; i++) await watch.changed(0, caller.signal);
      watch.close();
    }
    expect(attached(caller.signal)).toBe(0);
    closing.close();
    await live.close();
    await polling.close();
  });
});

describe("a store closes with many waits pending, without a listener per wait", () => {
  it("SqliteBackend: 50 pending watches end on close(), and Node sees no possible EventTarget leak", async () => {
    const backend = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}`, pollIntervalMs: 60_000 });
    const warnings = await warningsDuring(async () => {
      const watches = await Promise.all(Array.from({ length: 50 }, (_, i) => backend.watch(`t${i}`)));
      const pending = watches.map((w) => w.changed(60_000));
      const started = performance.now();
      await backend.close();
      await Promise.all(pending);
      expect(performance.now() - started).toBeLessThan(5_000);
    });
    expect(warnings.filter((w) => w.includes("MaxListeners"))).toEqual([]);
  });
});
