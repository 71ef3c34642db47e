/**
 * TickBatch: what one turn adds goes as one batch; while a batch is in flight, what is added
 * waits and then goes together; batches never overlap and keep the order of add(); a key keeps
 * two items of one id out of one batch; a thrown run fails its batch, an ItemFailure one item.
 */
import { describe, expect, it } from "vitest";
import { ItemFailure, TickBatch } from "../../src/tick-batch.js";
import { deferred } from "../app/helpers.js";

/** A run that records each batch and answers when `gate` (if any) opens. */
function recorder() {
  const batches: number[][] = [];
  let gate: ReturnType<typeof deferred<void>> | null = null;
  let inFlight = 0;
  let overlapped = false;
  const run = async (items: number[]) => {
    batches.push(items);
    inFlight++;
    if (inFlight > 1) overlapped = true;
    try {
      if (gate) await gate.promise;
      return items.map((i) => i * 10);
    } finally {
      inFlight--;
    }
  };
  return {
    batches,
    run,
    hold: () => {
      gate = deferred<void>();
      return gate;
    },
    overlapped: () => overlapped,
  };
}

describe("TickBatch", () => {
  it("sends what one turn adds as one batch and answers each item with its own answer", async () => {
    const r = recorder();
    const batch = new TickBatch(r.run);
    const answers = await Promise.all([1, 2, 3].map((i) => batch.add(i)));
    expect(answers).toEqual([10, 20, 30]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  it("while a batch is in flight, what is added waits and goes as one batch after it, in order", async () => {
    const r = recorder();
    const batch = new TickBatch(r.run);
    const gate = r.hold();
    const first = batch.add(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is in flight
    const later: Promise<number>[] = [];
    for (let turn = 0; turn < 3; turn++) {
      later.push(batch.add(10 + turn * 2), batch.add(11 + turn * 2));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(r.batches).toEqual([[1]]);
    gate.resolve();
    expect(await Promise.all([first, ...later])).toEqual([10, 100, 110, 120, 130, 140, 150]);
    expect(r.batches).toEqual([[1], [10, 11, 12, 13, 14, 15]]);
    expect(r.overlapped()).toBe(false);
  });

  it("starts at once at maxItems and never sends more than maxItems in one batch", async () => {
    const r = recorder();
    const batch = new TickBatch(r.run, 3);
    const all = [1, 2, 3, 4, 5, 6, 7].map((i) => batch.add(i));
    expect(r.batches).toEqual([[1, 2, 3]]); // started in add(), before any turn passed
    await Promise.all(all);
    expect(r.batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("keeps items of one key out of one batch; the later one goes in the next, order kept otherwise", async () => {
    const runs: string[][] = [];
    const batch = new TickBatch<string, string>(
      async (items) => {
        runs.push(items);
        return items.map((i) => i.toUpperCase());
      },
      { key: (item) => item.slice(0, 1) },
    );
    const answers = await Promise.all(["a1", "b1", "a2", "c1", "a3"].map((i) => batch.add(i)));
    expect(answers).toEqual(["A1", "B1", "A2", "C1", "A3"]);
    expect(runs).toEqual([["a1", "b1", "c1"], ["a2"], ["a3"]]);
  });

  it("a thrown run fails every item of its batch; an ItemFailure fails its item alone; later batches still run", async () => {
    let call = 0;
    const batch = new TickBatch<number, number>(async (items) => {
      call++;
      if (call === 1) throw new Error("store gone");
      return items.map((i) => (i === 5 ? new ItemFailure(new Error("no row for 5")) : i));
    });
    const first = [1, 2].map((i) => batch.add(i).catch((e: Error) => e.message));
    expect(await Promise.all(first)).toEqual(["store gone", "store gone"]);
    const second = [4, 5, 6].map((i) => batch.add(i).catch((e: Error) => e.message));
    expect(await Promise.all(second)).toEqual([4, "no row for 5", 6]);
  });

  it("drain() waits for every item added so far, including those waiting behind a batch in flight", async () => {
    const r = recorder();
    const batch = new TickBatch(r.run);
    const gate = r.hold();
    const answered: number[] = [];
    void batch.add(1).then((a) => answered.push(a));
    await new Promise((resolve) => setImmediate(resolve));
    void batch.add(2).then((a) => answered.push(a));
    const drained = batch.drain().then(() => [...answered]);
    gate.resolve();
    expect(await drained).toEqual([10, 20]);
  });
});
