import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Broker, Delivery, FetchOptions } from "../../src/brokers/broker.js";
import type { manualClock } from "../../src/clock.js";

export interface BrokerFixture {
  broker: Broker;
  clock: ReturnType<typeof manualClock>;
  cleanup?: () => Promise<void>;
}

const VT = 1_000;
const NOW: FetchOptions = { visibilityTimeoutMs: VT, waitMs: 0 };
/** Longer than the test's own timeout: a fetch that is not woken fails the test instead of passing late. */
const LONG_WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 10_000;

const raws = (ds: readonly Delivery[]): string[] => ds.map((d) => d.raw);

/**
 * The behaviour every broker must have. make() returns a fresh, empty broker (its own
 * namespace) driven by a manual clock, so time-dependent cases advance the clock instead of
 * sleeping.
 */
export function brokerConformance(name: string, make: () => Promise<BrokerFixture>): void {
  describe(`broker conformance: ${name}`, () => {
    let f: BrokerFixture;
    let broker: Broker;
    const publish = (raw: string, queue = "q", priority = 0, availableAt: number | null = null): Promise<void> =>
      broker.publish(raw, { queue, priority, availableAt });

    beforeEach(async () => {
      f = await make();
      broker = f.broker;
    });
    afterEach(async () => {
      await broker.close();
      await f.cleanup?.();
    });

    it("publishes once per key: a resend under the same key is dropped, atomically, even when concurrent", async () => {
      expect(broker.capabilities.dedupedPublish).toBe(true);
      const once = broker.publishOnce!.bind(broker);
      const opts = { queue: "q", priority: 0, availableAt: null };
      expect(await once("k1", "first", opts, 60_000)).toBe(true);
      expect(await once("k1", "again", opts, 60_000)).toBe(false);
      const racers = await Promise.all(Array.from({ length: 10 }, (_, i) => once("k2", `racer-${i}`, { ...opts, priority: 3 }, 60_000)));
      expect(racers.filter(Boolean)).toHaveLength(1);
      const got = raws(await broker.fetch(["q"], 10, NOW));
      expect(got).toHaveLength(2);
      expect(got[0]).toBe("first");
      expect(got[1]).toMatch(/^racer-\d$/);
    });

    it("hands messages out first in, first out, exactly as published", async () => {
      await publish("a");
      await publish("b");
      await publish("c");
      const got = await broker.fetch(["q"], 10, NOW);
      expect(raws(got)).toEqual(["a", "b", "c"]);
      expect(got.every((d) => d.queue === "q" && !d.redelivered)).toBe(true);
      expect(new Set(got.map((d) => d.tag)).size).toBe(3);
    });

    it("serves priority 0 first, FIFO within a priority", async () => {
      await publish("p5", "q", 5);
      await publish("p0-first", "q", 0);
      await publish("p9", "q", 9);
      await publish("p0-second", "q", 0);
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["p0-first", "p0-second", "p5", "p9"]);
    });

    it("serves earlier queues in the list first, before priority", async () => {
      await publish("b0", "b", 0);
      await publish("a9", "a", 9);
      await publish("other", "c", 0);
      expect(raws(await broker.fetch(["a", "b"], 1, NOW))).toEqual(["a9"]);
      expect(raws(await broker.fetch(["a", "b"], 10, NOW))).toEqual(["b0"]);
      expect((await broker.fetch(["c"], 10, NOW)).map((d) => d.queue)).toEqual(["c"]);
    });

    it("holds a message until availableAt, or (without delayed delivery) hands it out at once for the worker to hold", async () => {
      if (!broker.capabilities.delayedDelivery) {
        // Celery's layout: an ETA message sits in the queue like any other; the worker holds it.
        await publish("later", "q", 0, f.clock() + 10_000);
        expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["later"]);
        return;
      }
      await publish("later", "q", 0, f.clock() + 10_000);
      await publish("now");
      const [now] = await broker.fetch(["q"], 10, NOW);
      expect(now?.raw).toBe("now");
      await broker.ack(now!);
      f.clock.advance(9_999);
      expect(await broker.fetch(["q"], 10, NOW)).toEqual([]);
      f.clock.advance(1);
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["later"]);
    });

    it("hands a message out again, redelivered, when its lease ends unacked", async () => {
      await publish("m");
      const [first] = await broker.fetch(["q"], 1, NOW);
      expect(first?.redelivered).toBe(false);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(VT - 1);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(1);
      const [again] = await broker.fetch(["q"], 1, NOW);
      expect(again).toMatchObject({ raw: "m", queue: "q", redelivered: true });
      expect(again?.tag).not.toBe(first?.tag);
    });

    it("extend keeps the lease alive from now", async () => {
      await publish("m");
      const [d] = await broker.fetch(["q"], 1, NOW);
      f.clock.advance(800);
      await broker.extend([d!], VT);
      f.clock.advance(VT - 1);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(1);
      expect(raws(await broker.fetch(["q"], 1, NOW))).toEqual(["m"]);
    });

    it("ack removes the message for good", async () => {
      await publish("m");
      await publish("n");
      const [d] = await broker.fetch(["q"], 1, NOW);
      await broker.ack(d!);
      f.clock.advance(VT * 10);
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["n"]);
    });

    it("ignores ack/extend/release/deadLetter with a tag whose lease was taken over", async () => {
      await publish("m");
      const [stale] = await broker.fetch(["q"], 1, NOW);
      f.clock.advance(VT);
      const [current] = await broker.fetch(["q"], 1, NOW);
      expect(current?.redelivered).toBe(true);

      await broker.ack(stale!);
      await broker.extend([stale!], VT * 60);
      await broker.release(stale!, null);
      await broker.deadLetter(stale!, "stale");
      // Still leased by `current`: a stale release would have made it visible.
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      expect(await broker.deadLetters()).toEqual([]);
      // The current lease ends when it did before: a stale extend would have pushed it out.
      f.clock.advance(VT);
      const [third] = await broker.fetch(["q"], 1, NOW);
      expect(third?.raw).toBe("m");
      await broker.ack(current!);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      await broker.ack(third!);
      f.clock.advance(VT * 10);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
    });

    it("release gives the message back at availableAt, or at once for null", async () => {
      await publish("m");
      const [d] = await broker.fetch(["q"], 1, NOW);
      await broker.release(d!, f.clock() + 5_000);
      f.clock.advance(4_999);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(1);
      const [again] = await broker.fetch(["q"], 1, NOW);
      expect(again).toMatchObject({ raw: "m", redelivered: true });
      await broker.release(again!, null);
      expect(raws(await broker.fetch(["q"], 1, NOW))).toEqual(["m"]);
    });

    it("deadLetter keeps the raw message and the reason, newest first, and removes it from the queue", async () => {
      const odd = 'not json {{ "é" 😀 \n\t\\ ';
      await publish(odd, "q");
      await publish("second", "other");
      const [d1] = await broker.fetch(["q"], 1, NOW);
      await broker.deadLetter(d1!, "malformed envelope");
      const at1 = f.clock();
      f.clock.advance(10);
      const [d2] = await broker.fetch(["other"], 1, NOW);
      await broker.deadLetter(d2!, "unknown task");
      expect(await broker.deadLetters()).toEqual([
        { raw: "second", queue: "other", reason: "unknown task", at: at1 + 10 },
        { raw: odd, queue: "q", reason: "malformed envelope", at: at1 },
      ]);
      expect(await broker.deadLetters(1)).toHaveLength(1);
      f.clock.advance(VT * 10);
      expect(await broker.fetch(["q", "other"], 10, NOW)).toEqual([]);
    });

    it("honours max", async () => {
      for (const raw of ["1", "2", "3", "4", "5"]) await publish(raw);
      expect(raws(await broker.fetch(["q"], 2, NOW))).toEqual(["1", "2"]);
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["3", "4", "5"]);
    });

    it("a waiting fetch wakes when a message is published", async () => {
      const pending = broker.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
      await publish("wake");
      expect(raws(await pending)).toEqual(["wake"]);
    }, TEST_TIMEOUT_MS);

    it("a waiting fetch wakes when a message is released", async () => {
      await publish("m");
      const [d] = await broker.fetch(["q"], 1, NOW);
      const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
      await broker.release(d!, null);
      expect(await pending).toMatchObject([{ raw: "m", redelivered: true }]);
    }, TEST_TIMEOUT_MS);

    it("two waiting fetches share one message: exactly one gets it", async () => {
      const a = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 300 });
      const b = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 300 });
      await publish("only");
      const got = [...(await a), ...(await b)];
      expect(raws(got)).toEqual(["only"]);
    });

    it("an aborted signal ends a waiting fetch with [] and leases nothing", async () => {
      const controller = new AbortController();
      const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS, signal: controller.signal });
      controller.abort();
      expect(await pending).toEqual([]);
      await publish("m");
      expect(await broker.fetch(["q"], 1, { ...NOW, signal: controller.signal })).toEqual([]);
      expect(await broker.fetch(["q"], 1, NOW)).toMatchObject([{ raw: "m", redelivered: false }]);
    }, TEST_TIMEOUT_MS);

    it("close ends a waiting fetch with []", async () => {
      const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
      await broker.close();
      expect(await pending).toEqual([]);
    }, TEST_TIMEOUT_MS);
  });
}
