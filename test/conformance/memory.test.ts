import { describe, expect, it } from "vitest";
import { backendFromUrl } from "../../src/backends/by-url.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { brokerFromUrl } from "../../src/brokers/by-url.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { manualClock } from "../../src/clock.js";
import { UnknownSchemeError } from "../../src/errors.js";
import { backendConformance } from "./backend-conformance.js";
import { brokerConformance } from "./broker-conformance.js";
import { scheduleStoreConformance } from "./schedule-store-conformance.js";

brokerConformance("memory", async () => {
  const clock = manualClock();
  return { broker: new MemoryBroker({ clock }), clock };
});

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
    await a.publish("hello", { queue: "celery", priority: 0, availableAt: null });
    expect((await b.fetch(["celery"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))[0]?.raw).toBe("hello");

    const r1 = await backendFromUrl("memory://meet");
    expect(await backendFromUrl("memory://meet")).toBe(r1);
    expect(await backendFromUrl("memory://elsewhere")).not.toBe(r1);
  });

  it("a shared memory broker stays usable after one user closes it", async () => {
    const broker = await brokerFromUrl("memory://closing");
    await broker.close();
    await broker.publish("still here", { queue: "q", priority: 0, availableAt: null });
    expect((await (await brokerFromUrl("memory://closing")).fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))[0]?.raw).toBe("still here");
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
