/**
 * The worker-held ETA path: on a broker without delayed delivery (Redis, or the memory broker
 * with delayedDelivery: false) a message with a future ETA is leased at once and the worker
 * holds it, without a slot, until the broker's clock reaches the ETA. Everything runs on a
 * manual clock: the hold follows the broker's clock, not a timer.
 */
import { describe, expect, it, vi } from "vitest";
import type { App } from "../../src/app.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { manualClock } from "../../src/clock.js";
import { ConfigError } from "../../src/errors.js";
import type { Worker } from "../../src/worker/worker.js";
import { deferred, letItRun, memUrl, newApp, startWorker, until, type ManualClock } from "../app/helpers.js";
import { bodies, textMessage } from "../support/transport-messages.js";

const HOUR = 3_600_000;

/** An app on a memory:// URL with ?delayed=false, its stores on one manual clock. */
async function noDelayApp(): Promise<{ app: App; clock: ManualClock; broker: MemoryBroker }> {
  const clock = manualClock();
  const url = `${memUrl()}?delayed=false`;
  const app = newApp({ broker: url, backend: url, clock });
  const broker = (await app.broker()) as MemoryBroker;
  expect(broker.capabilities.delayedDelivery).toBe(false);
  expect(await broker.now()).toBe(clock());
  return { app, clock, broker };
}

/** Record worker.active on every turn of the event loop, to catch it outside [0, concurrency] even briefly. */
function sampleActive(worker: Worker): { min: () => number; max: () => number; stop: () => void } {
  let min = Infinity;
  let max = -Infinity;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    min = Math.min(min, worker.active);
    max = Math.max(max, worker.active);
    setImmediate(tick);
  };
  tick();
  return {
    min: () => min,
    max: () => max,
    stop: () => {
      on = false;
    },
  };
}

describe("MemoryBroker without delayed delivery", () => {
  it("hands out an ETA message at once, as kombu's Redis transport does, and release() ignores a future time (the broker declares no delayed delivery)", async () => {
    const clock = manualClock();
    const broker = new MemoryBroker({ clock, delayedDelivery: false });
    const lease = { visibilityTimeoutMs: HOUR, waitMs: 0 };
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: clock() + 60_000 });
    const [d] = await broker.fetch(["q"], 1, lease);
    expect(bodies([d!])).toEqual(["m"]);
    await broker.release(d!, clock() + 5_000);
    expect(bodies(await broker.fetch(["q"], 1, lease))).toEqual(["m"]);
  });

  it("memory://NAME?delayed=false turns it off; delayed=true or no query keeps it; another value is named in the error", () => {
    expect(new MemoryBroker({ url: "memory://a?delayed=false" }).capabilities.delayedDelivery).toBe(false);
    expect(new MemoryBroker({ url: "memory://a?delayed=true" }).capabilities.delayedDelivery).toBe(true);
    expect(new MemoryBroker({ url: "memory://a" }).capabilities.delayedDelivery).toBe(true);
    expect(new MemoryBroker({ url: "memory://a?delayed=false", delayedDelivery: true }).capabilities.delayedDelivery).toBe(true);
    expect(() => new MemoryBroker({ url: "memory://a?delayed=no" })).toThrow(ConfigError);
    expect(() => new MemoryBroker({ url: "memory://a?delayed=no" })).toThrow(/delayed=true or \?delayed=false.*"no"/);
  });
});

describe("worker: held ETA messages (manual clock)", () => {
  it("holds an ETA message without a slot and runs it when the broker's clock reaches the ETA", async () => {
    const { app, clock } = await noDelayApp();
    const runs: number[] = [];
    const later = app.task("later", async () => {
      runs.push(clock());
      return "ran";
    });
    const marker = app.task("marker", async (n: number) => n);
    const { worker } = await startWorker(app, { concurrency: 1 });
    const t0 = clock();

    const res = await later.applyAsync([], { countdown: "60s" });
    await until(() => worker.held === 1, "the worker holds the ETA message");
    // Its one slot is free while it holds: other work runs.
    expect(await (await marker.delay(1)).get({ timeoutMs: 10_000 })).toBe(1);
    clock.advance(59_999);
    await letItRun();
    expect(runs).toEqual([]);
    expect(await res.state()).toBe("PENDING");

    clock.advance(1);
    expect(await res.get({ timeoutMs: 10_000 })).toBe("ran");
    expect(runs).toEqual([t0 + 60_000]);
    expect(worker.held).toBe(0);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    "etaCheckMs %s is refused at worker(), naming it (setTimeout would fire at once)",
    async (ms) => {
      const { app } = await noDelayApp();
      await expect(app.worker({ etaCheckMs: ms })).rejects.toThrow(/Expected worker etaCheckMs to be a number of ms in \(0, 2147483647\]/);
    },
  );

  it("a window full of held messages does not stop fetching: with concurrency 1 and no prefetch, later work runs while one is held", async () => {
    const { app } = await noDelayApp();
    const later = app.task("later", async () => "ran");
    const marker = app.task("marker", async (n: number) => n);
    const { worker } = await startWorker(app, { concurrency: 1, prefetch: 0 });
    await later.applyAsync([], { countdown: "1h" });
    await until(() => worker.held === 1, "the worker holds the ETA message");
    // The clock never moves: only a fetch loop woken by the hold can take the marker.
    expect(await (await marker.delay(7)).get({ timeoutMs: 10_000 })).toBe(7);
  });

  it("a broker clock that throws while a message is held: the slot is given back once, the message still runs", async () => {
    const { app, clock, broker } = await noDelayApp();
    // Read 1 is executeMessage deciding to hold; reads 2 and 3 are the hold's and fail.
    let reads = 0;
    const realNow = broker.now.bind(broker);
    vi.spyOn(broker, "now").mockImplementation(async () => {
      reads++;
      if (reads === 2 || reads === 3) throw new Error("clock unavailable");
      return realNow();
    });
    let running = 0;
    let most = 0;
    const gate = deferred();
    const t = app.task("eta.job", async (n: number) => {
      most = Math.max(most, ++running);
      if (n > 0) await gate.promise;
      running--;
      return n;
    });
    const { worker } = await startWorker(app, { concurrency: 1 });
    const active = sampleActive(worker);

    const res = await t.applyAsync([0], { countdown: "30s" });
    await until(() => reads >= 2, "the hold read the clock (and it failed)");
    await letItRun();
    expect(active.min()).toBe(0);
    await until(() => reads >= 4 && worker.held === 1, "the hold reads the clock again after two failures");
    clock.advance(30_000);
    expect(await res.get({ timeoutMs: 10_000 })).toBe(0);
    await until(() => worker.processed === 1 && worker.active === 0, "the worker is idle after the held message ran");

    // Concurrency is still 1: two slow tasks do not overlap.
    const [a, b] = [await t.delay(1), await t.delay(2)];
    await until(() => running === 1, "one slow task started");
    await letItRun();
    expect(running).toBe(1);
    gate.resolve();
    expect([await a.get({ timeoutMs: 10_000 }), await b.get({ timeoutMs: 10_000 })]).toEqual([1, 2]);
    await until(() => worker.active === 0, "the worker is idle");
    active.stop();
    expect(most).toBe(1);
    expect(active.min()).toBe(0);
    expect(active.max()).toBe(1);
  });

  it("a release() that throws on a warm stop: the slot is given back once, and the message comes back after the visibility timeout", async () => {
    const { app, clock, broker } = await noDelayApp();
    let runs = 0;
    const t = app.task("eta.job", async () => ++runs);
    const { worker, running } = await startWorker(app, { concurrency: 1 });
    const active = sampleActive(worker);
    const res = await t.applyAsync([], { countdown: "10m" });
    await until(() => worker.held === 1, "the worker holds the ETA message");

    const release = vi.spyOn(broker, "release").mockRejectedValueOnce(new Error("broker unavailable"));
    await worker.stop();
    await running;
    active.stop();
    expect(release).toHaveBeenCalledTimes(1);
    expect(worker.active).toBe(0);
    expect(worker.held).toBe(0);
    expect(active.min()).toBe(0);
    expect(active.max()).toBeLessThanOrEqual(1);

    // Not lost: its lease ends after the visibility timeout (1h), and another worker runs it.
    const second = (await startWorker(app, { concurrency: 1 })).worker;
    clock.advance(HOUR);
    expect(await res.get({ timeoutMs: 10_000 })).toBe(1);
    expect(runs).toBe(1);
    await until(() => second.active === 0, "the second worker is idle");
  });

  it("a warm stop gives a held message back to the queue at once; another worker holds it and runs it at its ETA", async () => {
    const { app, clock } = await noDelayApp();
    let runs = 0;
    const t = app.task("eta.job", async () => ++runs);
    const first = await startWorker(app, { concurrency: 1 });
    const res = await t.applyAsync([], { countdown: "10m" });
    await until(() => first.worker.held === 1, "the first worker holds the ETA message");
    await first.worker.stop();
    await first.running;
    expect(first.worker.held).toBe(0);

    // Back in the queue now, not at its ETA nor after a visibility timeout: the clock has not moved.
    const second = (await startWorker(app, { concurrency: 1 })).worker;
    await until(() => second.held === 1, "the second worker holds the message");
    expect(runs).toBe(0);
    clock.advance(10 * 60_000 - 1);
    await letItRun();
    expect(runs).toBe(0);
    clock.advance(1);
    expect(await res.get({ timeoutMs: 10_000 })).toBe(1);
    expect(runs).toBe(1);
  });
});
