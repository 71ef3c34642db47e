import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ResultBackend, StoreRequest, StoredResult } from "../../src/backends/result-backend.js";
import type { manualClock } from "../../src/clock.js";

/** Legal holds are not in the ResultBackend contract yet; the backends under test have them. */
export interface Holds {
  setHeld(taskId: string, held: boolean): Promise<boolean>;
}

export interface BackendFixture {
  backend: ResultBackend & Holds;
  clock: ReturnType<typeof manualClock>;
  cleanup?: () => Promise<void>;
}

const GRACE = { graceMs: 60_000 };
const LONG_WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 10_000;
/** How long a watch may take to wake after a change: far below LONG_WAIT_MS, so only the change can wake it in time. */
const WAKE_DEADLINE_MS = 5_000;

/** "woken" when the watch resolves before the deadline, "deadline" otherwise: an assertion that can fail without the test timing out. */
async function wokenWithin(changed: Promise<unknown>, ms: number): Promise<"woken" | "deadline"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"deadline">((resolve) => (timer = setTimeout(() => resolve("deadline"), ms)));
  try {
    return await Promise.race([changed.then(() => "woken" as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return {
    taskId,
    status: "SUCCESS",
    result: 42,
    traceback: null,
    children: [],
    lifetimeMs: 60_000,
    tier: null,
    action: "delete",
    ...over,
  };
}

/**
 * The behaviour every result backend must have. make() returns a fresh, empty backend (its
 * own namespace) whose store clock is a manual clock.
 */
export function backendConformance(name: string, make: () => Promise<BackendFixture>): void {
  describe(`backend conformance: ${name}`, () => {
    let f: BackendFixture;
    let backend: ResultBackend & Holds;

    beforeEach(async () => {
      f = await make();
      backend = f.backend;
    });
    afterEach(async () => {
      await backend.close();
      await f.cleanup?.();
    });

    it("round-trips every field, extended ones included", async () => {
      const req = request("t-full", {
        status: "FAILURE",
        result: { exc_type: "ValueError", exc_message: ["bad", 1], exc_module: "builtins" },
        traceback: "Traceback (most recent call last):\n  ...",
        children: [[["child-1", null], null]],
        lifetimeMs: 3_600_000,
        tier: "audit",
        action: "archive",
        name: "audit.log",
        args: [1, "two", { three: 3 }],
        kwargs: { region: "eu", nested: { ok: true } },
        worker: "celery@host",
        retries: 2,
        queue: "audit",
      });
      const now = f.clock();
      const expected: StoredResult = {
        taskId: "t-full",
        status: "FAILURE",
        result: req.result,
        traceback: req.traceback,
        children: req.children,
        dateDone: now,
        expiresAt: now + 3_600_000,
        tier: "audit",
        action: "archive",
        held: false,
        name: "audit.log",
        args: req.args,
        kwargs: req.kwargs,
        worker: "celery@host",
        retries: 2,
        queue: "audit",
      };
      expect(await backend.store(req)).toEqual({ stored: true, result: expected });
      expect(await backend.lookup("t-full", GRACE)).toEqual({ kind: "found", result: expected });
    });

    it("reads absent extended fields back as null", async () => {
      await backend.store(request("t-plain"));
      const got = await backend.lookup("t-plain", GRACE);
      expect(got.kind === "found" && got.result).toMatchObject({
        name: null,
        args: null,
        kwargs: null,
        worker: null,
        retries: null,
        queue: null,
      });
    });

    it("stamps dateDone with the store clock and expiresAt = dateDone + lifetime", async () => {
      f.clock.set(Date.UTC(2030, 5, 1, 12, 0, 0, 549));
      expect(await backend.now()).toBe(Date.UTC(2030, 5, 1, 12, 0, 0, 549));
      const { result } = await backend.store(request("t-time", { lifetimeMs: 300_000 }));
      expect(result.dateDone).toBe(Date.UTC(2030, 5, 1, 12, 0, 0, 549));
      expect(result.expiresAt).toBe(Date.UTC(2030, 5, 1, 12, 5, 0, 549));
    });

    it("leaves dateDone null for states that are not done, and counts their lifetime from now", async () => {
      const { result } = await backend.store(request("t-started", { status: "STARTED", result: { pid: 1 }, lifetimeMs: 1_000 }));
      expect(result.dateDone).toBeNull();
      expect(result.expiresAt).toBe(f.clock() + 1_000);
    });

    it("null lifetime never expires", async () => {
      const { result } = await backend.store(request("t-never", { lifetimeMs: null }));
      expect(result.expiresAt).toBeNull();
      f.clock.advance(10 * 365 * 86_400_000);
      expect((await backend.lookup("t-never", GRACE)).kind).toBe("found");
    });

    it("lifetime 0 is expired as soon as it is stored", async () => {
      await backend.store(request("t-zero", { lifetimeMs: 0 }));
      expect(await backend.lookup("t-zero", GRACE)).toEqual({ kind: "expired", taskId: "t-zero", expiredAt: f.clock() });
    });

    it("expires when the store clock passes expiresAt", async () => {
      const { result } = await backend.store(request("t-exp", { lifetimeMs: 1_000 }));
      f.clock.advance(999);
      expect((await backend.lookup("t-exp", GRACE)).kind).toBe("found");
      f.clock.advance(1);
      expect(await backend.lookup("t-exp", GRACE)).toEqual({ kind: "expired", taskId: "t-exp", expiredAt: result.expiresAt });
    });

    it("a held result is not expired; releasing the hold lets it expire", async () => {
      await backend.store(request("t-held", { lifetimeMs: 1_000 }));
      expect(await backend.setHeld("t-held", true)).toBe(true);
      f.clock.advance(5_000);
      const got = await backend.lookup("t-held", GRACE);
      expect(got.kind === "found" && got.result.held).toBe(true);
      expect(await backend.setHeld("t-held", false)).toBe(true);
      expect((await backend.lookup("t-held", GRACE)).kind).toBe("expired");
      expect(await backend.setHeld("t-nobody", true)).toBe(false);
    });

    it("a hold survives the task's later stores", async () => {
      await backend.store(request("t-hold-retry", { status: "STARTED", lifetimeMs: 1_000 }));
      await backend.setHeld("t-hold-retry", true);
      expect((await backend.store(request("t-hold-retry", { lifetimeMs: 1_000 }))).result.held).toBe(true);
    });

    it("a ready result is final: a second store keeps the first", async () => {
      const first = await backend.store(request("t-final", { result: "first" }));
      f.clock.advance(1_000);
      const second = await backend.store(request("t-final", { status: "FAILURE", result: "second", lifetimeMs: null }));
      expect(second).toEqual({ stored: false, result: first.result });
      expect(await backend.store(request("t-final", { status: "RETRY" }))).toMatchObject({ stored: false });
      // trackStarted on a redelivery of a finished task: STARTED never replaces the outcome.
      expect(await backend.store(request("t-final", { status: "STARTED", result: { pid: 1, hostname: "w" } }))).toMatchObject({
        stored: false,
      });
      expect(await backend.lookup("t-final", GRACE)).toEqual({ kind: "found", result: first.result });
    });

    it("RETRY and STARTED are replaced by the final state", async () => {
      const retry = await backend.store(request("t-retry", { status: "RETRY", result: { exc_type: "Timeout" } }));
      expect(retry.result.dateDone).toBeNull();
      expect((await backend.store(request("t-retry", { status: "STARTED", result: null }))).stored).toBe(true);
      f.clock.advance(500);
      const done = await backend.store(request("t-retry", { result: "ok" }));
      expect(done.stored).toBe(true);
      expect(done.result).toMatchObject({ status: "SUCCESS", result: "ok", dateDone: f.clock() });
    });

    it("forget makes the id unknown, not expired", async () => {
      await backend.store(request("t-forget"));
      await backend.store(request("t-forget-expired", { lifetimeMs: 0 }));
      expect(await backend.forget("t-forget")).toBe(true);
      expect(await backend.forget("t-forget-expired")).toBe(true);
      expect(await backend.lookup("t-forget", GRACE)).toEqual({ kind: "missing" });
      expect(await backend.lookup("t-forget-expired", GRACE)).toEqual({ kind: "missing" });
      expect(await backend.forget("t-forget")).toBe(false);
    });

    it("an unknown id is missing", async () => {
      expect(await backend.lookup("t-unknown", GRACE)).toEqual({ kind: "missing" });
    });

    it(
      "a watch resolves when the result is stored",
      async () => {
        const watch = await backend.watch("t-wait");
        try {
          let settled = false;
          const pending = watch.changed(LONG_WAIT_MS).then(() => (settled = true));
          await Promise.resolve();
          expect(settled).toBe(false);
          await backend.store(request("t-wait"));
          expect(await wokenWithin(pending, WAKE_DEADLINE_MS)).toBe("woken");
          expect((await backend.lookup("t-wait", GRACE)).kind).toBe("found");
        } finally {
          watch.close();
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a watch remembers a change made before changed() is called (no lost wake-up)",
      async () => {
        const watch = await backend.watch("t-wait-early");
        try {
          await backend.store(request("t-wait-early"));
          // changed() is called only now, after the change: it must resolve because of it, long before LONG_WAIT_MS.
          expect(await wokenWithin(watch.changed(LONG_WAIT_MS), WAKE_DEADLINE_MS)).toBe("woken");
        } finally {
          watch.close();
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "a watch resolves on forget, on abort, and after ms",
      async () => {
        await backend.store(request("t-wait2"));
        const watch = await backend.watch("t-wait2");
        try {
          const onForget = watch.changed(LONG_WAIT_MS);
          await backend.forget("t-wait2");
          await onForget;
          const controller = new AbortController();
          const onAbort = watch.changed(LONG_WAIT_MS, controller.signal);
          controller.abort();
          await onAbort;
          await watch.changed(10);
        } finally {
          watch.close();
        }
      },
      TEST_TIMEOUT_MS,
    );

    it("round-trips JSON values exactly", async () => {
      const values: unknown[] = [
        null,
        0,
        -1.5,
        1e300,
        Number.MAX_SAFE_INTEGER,
        1e-7,
        true,
        "",
        'héllo wörld 😀 中文 \u2028 "quoted" \\ \n',
        [],
        {},
        [1, [2, [3, { deep: [null, false, "x"] }]]],
        { a: { b: { c: { d: [1, 2, 3] } } }, "key with spaces": "v", ünïcode: "ключ" },
      ];
      for (const [i, value] of values.entries()) {
        await backend.store(request(`t-json-${i}`, { result: value, args: [value], kwargs: { value } }));
        const got = await backend.lookup(`t-json-${i}`, GRACE);
        expect(got.kind === "found" && [got.result.result, got.result.args, got.result.kwargs]).toEqual([value, [value], { value }]);
      }
    });

    it("round-trips integers beyond 2^53 as bigint and NaN/Infinity exactly (Python's JSON)", async () => {
      const value = {
        big: 123456789012345678n,
        negative: -(2n ** 64n),
        safe: Number.MAX_SAFE_INTEGER,
        list: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
        text: "NaN",
      };
      await backend.store(request("t-numbers", { result: value, args: [value.big], kwargs: { n: value.list } }));
      const got = await backend.lookup("t-numbers", GRACE);
      expect(got.kind === "found" && [got.result.result, got.result.args, got.result.kwargs]).toEqual([
        value,
        [value.big],
        { n: value.list },
      ]);
    });

    it("keeps what was stored even if the caller mutates its object afterwards", async () => {
      const value = { list: [1, 2] };
      await backend.store(request("t-mut", { result: value }));
      value.list.push(3);
      const got = await backend.lookup("t-mut", GRACE);
      expect(got.kind === "found" && got.result.result).toEqual({ list: [1, 2] });
    });
  });
}
