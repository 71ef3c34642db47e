import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Broker, BrokerCapabilities, DeadLetter, FetchOptions } from "../../src/brokers/broker.js";
import { deferral } from "../../src/brokers/deferral.js";
import type { manualClock } from "../../src/clock.js";
import type { TransportMessage } from "../../src/protocol/transport-message.js";
import { bodies as raws, textMessage } from "../support/transport-messages.js";

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

/** Every page of dead letters, following the cursors. */
async function deadLetterPages(broker: Broker, limit: number): Promise<DeadLetter[][]> {
  const pages: DeadLetter[][] = [];
  let cursor: string | null = null;
  do {
    const page = await broker.deadLetters({ cursor, limit });
    pages.push(page.items);
    cursor = page.next;
  } while (cursor !== null && pages.length < 100);
  return pages;
}

/**
 * The behaviour every broker must have. make() returns a fresh, empty broker (its own
 * namespace) driven by a manual clock, so time-dependent cases advance the clock instead of
 * sleeping. `declared` is what the broker must declare (the first case checks it); the cases
 * that depend on a capability are chosen by it, and assert what it says: the priority order,
 * delayed delivery or else the worker-held path, leases.
 */
export function brokerConformance(name: string, declared: BrokerCapabilities, make: () => Promise<BrokerFixture>): void {
  describe(`broker conformance: ${name}`, () => {
    let f: BrokerFixture;
    let broker: Broker;
    const publish = (text: string, queue = "q", priority = 0, availableAt: number | null = null): Promise<void> =>
      broker.publish(textMessage(text), { queue, priority, availableAt });
    const leaseIt = declared.delivery === "lease" ? it : null;

    beforeEach(async () => {
      f = await make();
      broker = f.broker;
    });
    afterEach(async () => {
      await broker.close();
      await f.cleanup?.();
    });

    it("declares the capabilities its cases are chosen by", () => {
      expect(broker.capabilities).toEqual(declared);
      expect(typeof broker.publishOnce === "function").toBe(declared.dedupedPublish);
      expect(typeof broker.publishEvent === "function").toBe(declared.events);
    });

    if (declared.dedupedPublish)
      it("publishes once per key: a resend under the same key is dropped, atomically, even when concurrent", async () => {
        const once = broker.publishOnce!.bind(broker);
        const opts = { queue: "q", priority: 0, availableAt: null };
        expect(await once("k1", textMessage("first"), opts, 60_000)).toBe(true);
        expect(await once("k1", textMessage("again"), opts, 60_000)).toBe(false);
        const racers = await Promise.all(
          Array.from({ length: 10 }, (_, i) => once("k2", textMessage(`racer-${i}`), { ...opts, priority: 3 }, 60_000)),
        );
        expect(racers.filter(Boolean)).toHaveLength(1);
        const got = raws(await broker.fetch(["q"], 10, NOW));
        expect(got).toHaveLength(2);
        expect(got[0]).toBe("first");
        expect(got[1]).toMatch(/^racer-\d$/);
      });

    it("hands messages out first in, first out, exactly as published: headers, properties, body bytes, content type", async () => {
      const exact: TransportMessage = {
        headers: { task: "t", id: "x", nested: { list: [1, null, "é😀"] }, flag: false },
        properties: { correlation_id: "x", reply_to: "r", delivery_mode: 2, priority: 0 },
        // Not UTF-8: the bytes must survive as bytes.
        body: Buffer.from([0x80, 0x00, 0xff, 0xfe, 0x7b, 0x22]),
        contentType: "application/x-binary",
        contentEncoding: "binary",
      };
      await publish("a");
      await broker.publish(exact, { queue: "q", priority: 0, availableAt: null });
      await publish("c");
      const got = await broker.fetch(["q"], 10, NOW);
      expect(got.map((d) => d.message?.headers.id)).toEqual(["a", "x", "c"]);
      expect(got[1]!.message).toEqual(exact);
      expect(raws([got[0]!, got[2]!])).toEqual(["a", "c"]);
      expect(got.every((d) => d.queue === "q" && !d.redelivered)).toBe(true);
      expect(new Set(got.map((d) => d.tag)).size).toBe(3);
    });

    it("publishMany puts a batch in the queues in order, each message as publish() would", async () => {
      await publish("before");
      const batch = ["m1", "other1", "m2", "m3", "p9", "other2"].map((text) => ({
        message: textMessage(text),
        options: { queue: text.startsWith("other") ? "other" : "q", priority: text === "p9" ? 9 : 0, availableAt: null },
      }));
      await broker.publishMany(batch);
      await broker.publishMany([]);
      await publish("after");
      const inQ = raws(await broker.fetch(["q"], 10, NOW));
      const p0 = ["before", "m1", "m2", "m3", "after"];
      expect(inQ.filter((t) => t !== "p9")).toEqual(p0);
      expect(inQ).toContain("p9");
      expect(raws(await broker.fetch(["other"], 10, NOW))).toEqual(["other1", "other2"]);
    });

    leaseIt?.("settles many deliveries acked at once (one batch) and keeps the rest leased", async () => {
      for (let i = 0; i < 30; i++) await publish(`m${i}`);
      const got = await broker.fetch(["q"], 30, NOW);
      expect(got).toHaveLength(30);
      await Promise.all(got.filter((_, i) => i % 3 !== 0).map((d) => broker.ack(d)));
      f.clock.advance(VT * 10);
      const back = raws(await broker.fetch(["q"], 30, NOW));
      expect(back.sort()).toEqual(raws(got.filter((_, i) => i % 3 === 0)).sort());
    });

    it(`serves priorities in the declared order (${declared.priorityOrder}), FIFO within a priority`, async () => {
      await publish("p5", "q", 5);
      await publish("p0-first", "q", 0);
      await publish("p9", "q", 9);
      await publish("p0-second", "q", 0);
      const expected = {
        "lowest-first": ["p0-first", "p0-second", "p5", "p9"],
        "highest-first": ["p9", "p5", "p0-first", "p0-second"],
        none: ["p5", "p0-first", "p9", "p0-second"],
      }[declared.priorityOrder];
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(expected);
    });

    it("serves earlier queues in the list first, before priority", async () => {
      const [first, last] = declared.priorityOrder === "highest-first" ? [9, 0] : [0, 9];
      await publish("b0", "b", first);
      await publish("a9", "a", last);
      await publish("other", "c", 0);
      expect(raws(await broker.fetch(["a", "b"], 1, NOW))).toEqual(["a9"]);
      expect(raws(await broker.fetch(["a", "b"], 10, NOW))).toEqual(["b0"]);
      expect((await broker.fetch(["c"], 10, NOW)).map((d) => d.queue)).toEqual(["c"]);
    });

    if (declared.delayedDelivery)
      it("holds a message until availableAt; the worker is told to release, not hold", async () => {
        expect(deferral(broker.capabilities, f.clock() + 10_000)).toEqual({ kind: "release", availableAt: f.clock() + 10_000 });
        await publish("later", "q", 0, f.clock() + 10_000);
        await publish("now");
        const [now] = await broker.fetch(["q"], 10, NOW);
        expect(raws([now!])).toEqual(["now"]);
        await broker.ack(now!);
        f.clock.advance(9_999);
        expect(await broker.fetch(["q"], 10, NOW)).toEqual([]);
        f.clock.advance(1);
        expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["later"]);
      });

    if (!declared.delayedDelivery)
      it("without delayed delivery: availableAt is ignored, and the worker holds the message, its lease kept, until it is due", async () => {
        // Celery's Redis layout: an ETA message sits in the queue like any other; the worker holds it.
        const due = f.clock() + 10 * VT;
        await publish("later", "q", 0, due);
        const [held] = await broker.fetch(["q"], 10, NOW);
        expect(held?.message?.headers.id).toBe("later");
        const plan = deferral(broker.capabilities, due);
        expect(plan).toEqual({ kind: "hold", until: due });
        // What the worker does while it holds: keep the lease (where the broker leases), so nobody else is handed the message.
        while (f.clock() < due) {
          if (declared.delivery === "lease") await broker.extend([held!], VT);
          f.clock.advance(VT - 1);
          expect(await broker.fetch(["q"], 10, NOW)).toEqual([]);
        }
        await broker.ack(held!);
        f.clock.advance(VT * 10);
        expect(await broker.fetch(["q"], 10, NOW)).toEqual([]);
      });

    if (!declared.delayedDelivery)
      it("without delayed delivery: a message given back with a future time (ignored) is handed out at once", async () => {
        await publish("m");
        const [d] = await broker.fetch(["q"], 1, NOW);
        await broker.release(d!, f.clock() + 10 * VT);
        expect(await broker.fetch(["q"], 1, NOW)).toMatchObject([{ message: { headers: { id: "m" } }, redelivered: true }]);
      });

    leaseIt?.("hands a message out again, redelivered, when its lease ends unacked", async () => {
      await publish("m");
      const [first] = await broker.fetch(["q"], 1, NOW);
      expect(first?.redelivered).toBe(false);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(VT - 1);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      f.clock.advance(1);
      const [again] = await broker.fetch(["q"], 1, NOW);
      expect(again).toMatchObject({ message: { headers: { id: "m" } }, queue: "q", redelivered: true });
      expect(again?.tag).not.toBe(first?.tag);
    });

    leaseIt?.("extend keeps the lease alive from now", async () => {
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

    leaseIt?.("ignores ack/extend/release/deadLetter with a tag whose lease was taken over", async () => {
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
      expect(await broker.deadLetters()).toEqual({ items: [], next: null });
      // The current lease ends when it did before: a stale extend would have pushed it out.
      f.clock.advance(VT);
      const [third] = await broker.fetch(["q"], 1, NOW);
      expect(raws([third!])).toEqual(["m"]);
      await broker.ack(current!);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
      await broker.ack(third!);
      f.clock.advance(VT * 10);
      expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
    });

    if (declared.delayedDelivery)
      it("release gives the message back at availableAt, or at once for null", async () => {
        await publish("m");
        const [d] = await broker.fetch(["q"], 1, NOW);
        await broker.release(d!, f.clock() + 5_000);
        f.clock.advance(4_999);
        expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
        f.clock.advance(1);
        const [again] = await broker.fetch(["q"], 1, NOW);
        expect(again).toMatchObject({ message: { headers: { id: "m" } }, redelivered: true });
        await broker.release(again!, null);
        expect(raws(await broker.fetch(["q"], 1, NOW))).toEqual(["m"]);
      });

    it("deadLetter keeps the message and the reason, newest first, and removes it from the queue", async () => {
      const odd: TransportMessage = {
        ...textMessage("odd"),
        body: Buffer.from('not json {{ "é" 😀 \n\t\\ \u0000'),
        contentType: "application/x-python-serialize",
      };
      await broker.publish(odd, { queue: "q", priority: 0, availableAt: null });
      await publish("second", "other");
      const [d1] = await broker.fetch(["q"], 1, NOW);
      await broker.deadLetter(d1!, "not JSON");
      const at1 = f.clock();
      f.clock.advance(10);
      const [d2] = await broker.fetch(["other"], 1, NOW);
      await broker.deadLetter(d2!, "unknown task");
      const { items, next } = await broker.deadLetters();
      expect(next).toBeNull();
      expect(items.map(({ raw: _raw, ...rest }) => rest)).toEqual([
        { message: textMessage("second"), queue: "other", reason: "unknown task", at: at1 + 10 },
        { message: odd, queue: "q", reason: "not JSON", at: at1 },
      ]);
      // raw is the broker's own bytes for the message; they are not empty, and one message's differ from another's.
      expect(items[0]!.raw.length).toBeGreaterThan(0);
      expect(items[0]!.raw.equals(items[1]!.raw)).toBe(false);
      f.clock.advance(VT * 10);
      expect(await broker.fetch(["q", "other"], 10, NOW)).toEqual([]);
    });

    it("dead letters come a page at a time, newest first; the cursor is stable while more arrive", async () => {
      const deadLetter = async (text: string): Promise<void> => {
        await publish(text);
        const [d] = await broker.fetch(["q"], 1, NOW);
        await broker.deadLetter(d!, `reason ${text}`);
        f.clock.advance(1);
      };
      for (const t of ["d1", "d2", "d3", "d4", "d5"]) await deadLetter(t);
      const ids = (items: readonly DeadLetter[]) => items.map((d) => d.message?.headers.id);
      expect((await deadLetterPages(broker, 2)).map(ids)).toEqual([["d5", "d4"], ["d3", "d2"], ["d1"]]);
      expect((await deadLetterPages(broker, 5)).map(ids)).toEqual([["d5", "d4", "d3", "d2", "d1"]]);
      const first = await broker.deadLetters({ limit: 2 });
      expect(ids(first.items)).toEqual(["d5", "d4"]);
      // Dead letters added between two pages appear on a fresh first page, not in the middle of this walk.
      await deadLetter("d6");
      const second = await broker.deadLetters({ cursor: first.next, limit: 2 });
      expect(ids(second.items)).toEqual(["d3", "d2"]);
      const third = await broker.deadLetters({ cursor: second.next, limit: 2 });
      expect(ids(third.items)).toEqual(["d1"]);
      expect(third.next).toBeNull();
      expect(ids((await broker.deadLetters({ limit: 1 })).items)).toEqual(["d6"]);
      await expect(broker.deadLetters({ limit: 0 })).rejects.toThrow(/limit.*>= 1.*0/);
      await expect(broker.deadLetters({ cursor: "x" })).rejects.toThrow(/cursor.*"x"/);
    });

    it("honours max", async () => {
      for (const raw of ["1", "2", "3", "4", "5"]) await publish(raw);
      expect(raws(await broker.fetch(["q"], 2, NOW))).toEqual(["1", "2"]);
      expect(raws(await broker.fetch(["q"], 10, NOW))).toEqual(["3", "4", "5"]);
    });

    it(
      "a waiting fetch wakes when a message is published",
      async () => {
        const pending = broker.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
        await publish("wake");
        expect(raws(await pending)).toEqual(["wake"]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a waiting fetch wakes when a message is released",
      async () => {
        await publish("m");
        const [d] = await broker.fetch(["q"], 1, NOW);
        const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
        await broker.release(d!, null);
        expect(await pending).toMatchObject([{ message: { headers: { id: "m" } }, redelivered: true }]);
      },
      TEST_TIMEOUT_MS,
    );

    it("two waiting fetches share one message: exactly one gets it", async () => {
      const a = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 300 });
      const b = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 300 });
      await publish("only");
      const got = [...(await a), ...(await b)];
      expect(raws(got)).toEqual(["only"]);
    });

    it(
      "an aborted signal ends a waiting fetch with [] and leases nothing",
      async () => {
        const controller = new AbortController();
        const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS, signal: controller.signal });
        controller.abort();
        expect(await pending).toEqual([]);
        await publish("m");
        expect(await broker.fetch(["q"], 1, { ...NOW, signal: controller.signal })).toEqual([]);
        expect(await broker.fetch(["q"], 1, NOW)).toMatchObject([{ message: { headers: { id: "m" } }, redelivered: false }]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "close ends a waiting fetch with []",
      async () => {
        const pending = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: LONG_WAIT_MS });
        await broker.close();
        expect(await pending).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );
  });
}
