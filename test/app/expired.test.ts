/**
 * "Expired is not unknown": a result that existed and expired reads EXPIRED and get() throws
 * ResultExpiredError; an id never seen reads PENDING and get() times out; forget() makes an id
 * unknown again. Time is a manual clock shared by the app and its memory stores.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EbbError, ResultError, ResultExpiredError, TimeoutError } from "../../src/errors.js";
import { clockedApp, newApp, startWorker } from "./helpers.js";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

describe("expired results", () => {
  it("a 5s result reads SUCCESS, then EXPIRED once the store clock passes its expiry; get() throws ResultExpiredError", async () => {
    const { app, clock } = await clockedApp();
    const t = app.task("short", async () => ({ v: 42 }), { resultExpires: "5s" });
    await startWorker(app);

    const res = await t.delay();
    expect(await res.get({ timeoutMs: 15_000 })).toEqual({ v: 42 });
    const before = await res.info();
    expect(before.state).toBe("SUCCESS");
    expect(before.dateDone).toBe(new Date(clock()).toISOString());
    expect(before.expiresAt).toBe(new Date(clock() + 5_000).toISOString());

    clock.advance(4_999);
    expect(await res.state()).toBe("SUCCESS");
    expect(await res.get({ timeoutMs: 0 })).toEqual({ v: 42 });

    clock.advance(1_001); // 6s after dateDone
    expect(await res.state()).toBe("EXPIRED");
    const info = await app.asyncResult(res.id).info();
    expect(info).toMatchObject({ id: res.id, state: "EXPIRED", result: null, expiresAt: before.expiresAt });

    const err = await rejection(res.get({ timeoutMs: 15_000 }));
    expect(err).toBeInstanceOf(ResultExpiredError);
    expect(err).toBeInstanceOf(ResultError);
    expect(err).toBeInstanceOf(EbbError);
    expect((err as ResultExpiredError).code).toBe("RESULT_EXPIRED");
    expect((err as ResultExpiredError).taskId).toBe(res.id);
    expect((err as ResultExpiredError).expiredAt.toISOString()).toBe(before.expiresAt);
    expect((err as Error).message).toContain(res.id);
  });

  it("get() on an expired result throws at once, whatever the timeout (it does not wait)", async () => {
    const { app, clock } = await clockedApp();
    const t = app.task("short", async () => 1, { resultExpires: "1s" });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    clock.advance(2_000);
    // A get() that waited for its timeout would fail the test by its 30s timeout.
    await expect(res.get({ timeoutMs: Infinity })).rejects.toBeInstanceOf(ResultExpiredError);
  });

  it('resultExpires "0s" means expired as soon as stored (Ebb does not read 0 as never)', async () => {
    const { app } = await clockedApp();
    const t = app.task("instant", async () => 1, { resultExpires: "0s" });
    await startWorker(app);
    const res = await t.delay();
    await expect(res.get({ timeoutMs: 15_000 })).rejects.toBeInstanceOf(ResultExpiredError);
    expect(await res.state()).toBe("EXPIRED");
  });

  it("a never-expiring result stays SUCCESS however far the clock moves", async () => {
    const { app, clock } = await clockedApp();
    const t = app.task("keep", async () => "kept", { resultExpires: null });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    clock.advance(10 * 365 * 86_400_000);
    expect(await res.state()).toBe("SUCCESS");
    expect(await res.get({ timeoutMs: 0 })).toBe("kept");
  });

  it("a held result does not expire", async () => {
    const { app, clock, backend } = await clockedApp();
    const t = app.task("held", async () => "evidence", { resultExpires: "5s" });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    expect(await backend.setHeld(res.id, true)).toBe(true);
    clock.advance(60_000);
    const info = await res.info();
    expect(info.state).toBe("SUCCESS");
    expect(info.held).toBe(true);
    expect(await backend.setHeld(res.id, false)).toBe(true);
    expect(await res.state()).toBe("EXPIRED");
  });

  it("an unknown id reads PENDING and get() times out with TimeoutError", async () => {
    const app = newApp();
    const res = app.asyncResult(randomUUID());
    expect(await res.state()).toBe("PENDING");
    const info = await res.info();
    expect(info).toMatchObject({ state: "PENDING", result: null, dateDone: null, expiresAt: null });

    const started = performance.now();
    const err = await rejection(res.get({ timeoutMs: 50 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).code).toBe("TIMEOUT");
    expect((err as TimeoutError).taskId).toBe(res.id);
    expect(err).not.toBeInstanceOf(ResultExpiredError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("get() without timeoutMs uses the app's resultTimeout", async () => {
    const app = newApp({ resultTimeout: "100ms" });
    await expect(app.asyncResult(randomUUID()).get()).rejects.toBeInstanceOf(TimeoutError);
  });

  it("forget() makes a stored result unknown: PENDING, not EXPIRED", async () => {
    const { app, clock } = await clockedApp();
    const t = app.task("t", async () => 1, { resultExpires: "5s" });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    await res.forget();
    expect(await res.state()).toBe("PENDING");
    clock.advance(6_000); // past what would have been its expiry
    expect(await res.state()).toBe("PENDING");
    await expect(res.get({ timeoutMs: 20 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it("forget() on an already expired result makes it PENDING, not EXPIRED", async () => {
    const { app, clock } = await clockedApp();
    const t = app.task("t", async () => 1, { resultExpires: "5s" });
    await startWorker(app);
    const res = await t.delay();
    await res.get({ timeoutMs: 15_000 });
    clock.advance(6_000);
    expect(await res.state()).toBe("EXPIRED");
    await res.forget();
    expect(await res.state()).toBe("PENDING");
    const err = await rejection(res.get({ timeoutMs: 20 }));
    expect(err).toBeInstanceOf(TimeoutError);
  });
});
