/**
 * The worker defers a message only in ways the broker declares: a broker with delayed delivery
 * is asked to release it until its time; on one without (memory://?delayed=false, like Redis)
 * executeMessage asks its caller (the worker) to hold it ({ holdUntil }) and never asks release()
 * for a future time.
 */
import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import type { Delivery } from "../../src/brokers/broker.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { manualClock } from "../../src/clock.js";
import { silentLogger } from "../../src/logger.js";
import { TaskLifecycle } from "../../src/worker/task-lifecycle.js";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { executeMessage, type ExecuteDeps } from "../../src/worker/execute-message.js";
import { newApp } from "../app/helpers.js";

function setup(delayedDelivery: boolean, failStore = false) {
  const clock = manualClock();
  const broker = new MemoryBroker({ clock, delayedDelivery });
  const backend = new MemoryBackend({ clock });
  if (failStore) backend.store = async () => Promise.reject(new Error("store is down"));
  const app = newApp({ clock });
  let runs = 0;
  app.task("t", async () => ++runs);
  const releases: Array<number | null> = [];
  const release = broker.release.bind(broker);
  broker.release = async (d: Delivery, at: number | null) => {
    releases.push(at);
    return release(d, at);
  };
  const deps: ExecuteDeps = {
    broker,
    backend,
    registry: app.tasks,
    config: app.config,
    log: silentLogger,
    workerName: "w",
    signal: new AbortController().signal,
    lifecycle: new TaskLifecycle(silentLogger),
  };
  const fetch = () => broker.fetch(["celery"], 10, { visibilityTimeoutMs: 3_600_000, waitMs: 0 });
  return { clock, broker, deps, releases, fetch, runs: () => runs };
}

describe("deferral by declared capability", () => {
  it("an ETA message on a broker without delayed delivery is held by the worker until its ETA, then run", async () => {
    const s = setup(false);
    const eta = s.clock() + 60_000;
    await s.broker.publish(encodeTaskMessage(makeTaskMessage({ task: "t", args: [], eta })), {
      queue: "celery",
      priority: 0,
      availableAt: eta,
    });
    const [d] = await s.fetch(); // no delayed delivery: handed out at once
    expect(await executeMessage(s.deps, d!)).toEqual({ holdUntil: eta });
    expect(s.releases).toEqual([]);
    expect(s.runs()).toBe(0);
    s.clock.set(eta); // the worker's hold ends when the time comes, and it calls again
    expect(await executeMessage(s.deps, d!)).toBe("done");
    expect(s.runs()).toBe(1);
  });

  it("when the result cannot be stored, a broker without delayed delivery is never asked to release for later: the worker holds it 5 s and runs it again", async () => {
    const s = setup(false, true);
    await s.broker.publish(encodeTaskMessage(makeTaskMessage({ task: "t", args: [] })), {
      queue: "celery",
      priority: 0,
      availableAt: null,
    });
    const [d] = await s.fetch();
    const start = s.clock();
    expect(await executeMessage(s.deps, d!)).toEqual({ holdUntil: start + 5_000 });
    expect(s.releases).toEqual([]);
    expect(s.runs()).toBe(1);
  });

  it("with delayed delivery the same failure releases it until then, and the worker does not hold it", async () => {
    const s = setup(true, true);
    await s.broker.publish(encodeTaskMessage(makeTaskMessage({ task: "t", args: [] })), {
      queue: "celery",
      priority: 0,
      availableAt: null,
    });
    const [d] = await s.fetch();
    const start = s.clock();
    expect(await executeMessage(s.deps, d!)).toBe("requeued");
    expect(s.releases).toEqual([start + 5_000]);
    expect(await s.fetch()).toEqual([]);
    s.clock.advance(5_000);
    expect(await s.fetch()).toMatchObject([{ redelivered: true }]);
  });
});
