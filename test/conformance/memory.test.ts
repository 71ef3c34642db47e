import { describe, expect, it } from "vitest";
import { backendFromUrl } from "../../src/backends/by-url.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { brokerFromUrl } from "../../src/brokers/by-url.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { manualClock } from "../../src/clock.js";
import { UnknownSchemeError } from "../../src/errors.js";
import { backendConformance } from "./backend-conformance.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { brokerConformance } from "./broker-conformance.js";
import { scheduleStoreConformance } from "./schedule-store-conformance.js";

brokerConformance(
  "memory",
  { delayedDelivery: true, priorityOrder: "lowest-first", clock: "local", delivery: "lease", dedupedPublish: true, events: true },
  async () => {
    const clock = manualClock();
    return { broker: new MemoryBroker({ clock }), clock };
  },
);

// Without delayed delivery (memory://NAME?delayed=false), as on Redis: the worker-held path.
brokerConformance(
  "memory without delayed delivery",
  { delayedDelivery: false, priorityOrder: "lowest-first", clock: "local", delivery: "lease", dedupedPublish: true, events: true },
  async () => {
    const clock = manualClock();
    return { broker: new MemoryBroker({ clock, delayedDelivery: false }), clock };
  },
);

backendConformance("memory", async () => {
  const clock = manualClock();
  return { backend: new MemoryBackend({ clock }), clock };
});

describe("memory:// by URL", () => {
  it("gives the same broker and backend for the same URL, so an app and its in-process worker meet", async () => {
    const a = await brokerFromUrl("memory://meet");
    const b = await brokerFromUrl("memory://meet");
    expect(b).toBe(a);
    expect(await brokerFromUrl("memory://elsewhere")).not.toBe(a);
    await a.publish(textMessage("hello"), { queue: "celery", priority: 0, availableAt: null });
    expect(bodies(await b.fetch(["celery"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))).toEqual(["hello"]);

    const r1 = await backendFromUrl("memory://meet");
    expect(await backendFromUrl("memory://meet")).toBe(r1);
    expect(await backendFromUrl("memory://elsewhere")).not.toBe(r1);
  });

  it("a shared memory broker stays usable after one user closes it", async () => {
    const broker = await brokerFromUrl("memory://closing");
    await broker.close();
    await broker.publish(textMessage("still here"), { queue: "q", priority: 0, availableAt: null });
    expect(bodies(await (await brokerFromUrl("memory://closing")).fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))).toEqual([
      "still here",
    ]);
  });

  it("memory://NAME?delayed=false is a broker without delayed delivery; the same name without it delays", async () => {
    const plain = await brokerFromUrl("memory://delays");
    const undelayed = await brokerFromUrl("memory://delays?delayed=false");
    expect(plain.capabilities.delayedDelivery).toBe(true);
    expect(undelayed.capabilities.delayedDelivery).toBe(false);
    const later = Date.now() + 60_000;
    await plain.publish(textMessage("later"), { queue: "q", priority: 0, availableAt: later });
    await undelayed.publish(textMessage("later"), { queue: "q", priority: 0, availableAt: later });
    expect(await plain.fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 })).toEqual([]);
    expect(bodies(await undelayed.fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))).toEqual(["later"]);
  });

  it("rejects an unknown scheme, naming the option and the known schemes", async () => {
    await expect(brokerFromUrl("kafka://localhost")).rejects.toThrow(UnknownSchemeError);
    await expect(brokerFromUrl("kafka://localhost")).rejects.toThrow(/broker scheme "kafka:\/\/".*memory:\/\/, sqlite:\/\//);
    await expect(backendFromUrl("kafka://u:secret@localhost")).rejects.toThrow(/backend scheme.*u:\*\*\*@/);
    await expect(backendFromUrl("kafka://u:secret@localhost")).rejects.not.toThrow(/secret/);
  });

  it("redacts the password in the url property", () => {
    expect(new MemoryBroker({ url: "memory://user:pw@x" }).url).toBe("memory://user:***@x");
    expect(new MemoryBackend({ url: "memory://user:pw@x" }).url).toBe("memory://user:***@x");
  });
});

scheduleStoreConformance("memory", async () => {
  const clock = manualClock();
  return { store: new MemoryBackend({ clock }).scheduleStore(), clock, cleanup: async () => undefined };
});
