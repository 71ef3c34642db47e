import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TaskFailedError, TaskRevokedError } from "../../src/errors.js";
import {
  describeInterop,
  ebbCli,
  ebbSide,
  pastExpiry,
  pyCall,
  pyGet,
  pySend,
  startPythonWorker,
  type EbbSide,
  type PyResult,
  type PythonWorker,
} from "./harness.js";

/**
 * Ebb reads what Python wrote: results stored by a real Celery worker (sent by a real Celery
 * client, so Ebb's broker plays no part) read through Ebb's AsyncResult and `ebb result`.
 * The Python worker keeps results 600 s (result_expires) with result_extended on, so an
 * expiresAt of dateDone + 600 s can only have come from the key's TTL, not from Ebb's defaults.
 */
const RESULT_EXPIRES_S = 600;

let py: PythonWorker | undefined;
let ebbApp: EbbSide;
const done: Record<"success" | "failure" | "custom" | "revoked", PyResult> = {} as never;

await describeInterop("Ebb reads results stored by a Python Celery worker (a redis-server of its own)", (redis) => {
  beforeAll(async () => {
    py = await startPythonWorker(redis.url, { INTEROP_RESULT_EXPIRES: String(RESULT_EXPIRES_S), INTEROP_RESULT_EXTENDED: "1" });
    ebbApp = ebbSide(redis.url);
    done.success = await pyCall(redis.url, "interop.add", "--args", "[2, 3]");
    done.failure = await pyCall(redis.url, "interop.fail", "--kwargs", JSON.stringify({ kind: "value", message: "bad input" }));
    done.custom = await pyCall(redis.url, "interop.fail", "--kwargs", JSON.stringify({ kind: "custom", message: "quota" }));
    // The solo worker is held (interop.hold) until a message that expires after 1 s has expired,
    // however long the Python clients take to start, so it is revoked when the worker gets there.
    const gate = `interop:gate:${randomUUID()}`;
    await pySend(redis.url, "interop.hold", "--args", JSON.stringify([gate]));
    const [revokedId] = await pySend(redis.url, "interop.add", "--args", "[1, 1]", "--expires", "1");
    await pastExpiry(Date.now(), 1_000);
    await redis.client.rpush(gate, "go");
    done.revoked = await pyGet(redis.url, revokedId!);
    expect(Object.fromEntries(Object.entries(done).map(([k, v]) => [k, v.state]))).toEqual({
      success: "SUCCESS",
      failure: "FAILURE",
      custom: "FAILURE",
      revoked: "REVOKED",
    });
  });

  afterAll(async () => {
    await ebbApp?.close();
    await py?.stop();
  });

  /** The key's own TTL, as an instant: what expiresAt must say for a value only Python wrote. */
  async function ttlInstant(id: string): Promise<number> {
    const [[, t], [, pttl]] = (await redis.client.multi().time().pttl(`celery-task-meta-${id}`).exec()) as [
      [null, [string, string]],
      [null, number],
    ];
    expect(pttl).toBeGreaterThan(0);
    return Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000) + pttl;
  }

  it("reads a SUCCESS: value, dateDone, and expiresAt from the key's TTL (Python's result_expires)", async () => {
    const res = ebbApp.app.asyncResult<number>(done.success.id);
    await expect(res.get({ timeoutMs: 5_000 })).resolves.toBe(5);
    const info = await res.info();
    expect(info).toMatchObject({ id: done.success.id, state: "SUCCESS", result: 5, tier: null, held: false, traceback: null });
    // Python wrote date_done naive UTC with 6 digits; Ebb reads it as UTC, to the millisecond.
    expect(Math.abs(Date.parse(info.dateDone!) - Date.parse(`${done.success.date_done!}Z`))).toBeLessThan(1);
    const expiresAt = Date.parse(info.expiresAt!);
    expect(Math.abs(expiresAt - (await ttlInstant(done.success.id)))).toBeLessThan(2_000);
    expect(Math.abs(expiresAt - Date.parse(info.dateDone!) - RESULT_EXPIRES_S * 1000)).toBeLessThan(5_000);
  });

  it("reads a FAILURE as TaskFailedError with Python's exception type, module, message and traceback", async () => {
    const res = ebbApp.app.asyncResult(done.failure.id);
    const err = await res.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ taskId: done.failure.id, excType: "ValueError", excModule: "builtins", excMessage: ["bad input"] });
    expect((err as TaskFailedError).traceback).toMatch(/Traceback[\s\S]*ValueError: bad input/);
    expect(await res.info()).toMatchObject({
      state: "FAILURE",
      result: { exc_type: "ValueError", exc_message: ["bad input"], exc_module: "builtins" },
    });

    const custom = await ebbApp.app
      .asyncResult(done.custom.id)
      .get({ timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(custom).toMatchObject({ excType: "InteropError", excModule: "interop_tasks", excMessage: ["quota"] });
  });

  it("reads a message that expired on the Python worker as REVOKED (TaskRevokedError 'expired')", async () => {
    const res = ebbApp.app.asyncResult(done.revoked.id);
    const err = await res.get({ timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect(err).toMatchObject({ taskId: done.revoked.id, reason: "expired" });
    const info = await res.info();
    expect(info).toMatchObject({ state: "REVOKED", result: { exc_type: "TaskRevokedError", exc_message: ["expired"] } });
    expect(Math.abs(Date.parse(info.expiresAt!) - (await ttlInstant(done.revoked.id)))).toBeLessThan(2_000);
  });

  it("`ebb result ID --backend redis://… --json` prints each and exits 0 for SUCCESS, 1 for FAILURE/REVOKED", async () => {
    const ok = await ebbCli(redis.url, ["result", done.success.id]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(Object.keys(ok.json!).sort()).toEqual(["dateDone", "expiresAt", "id", "result", "state", "tier"]);
    expect(ok.json).toMatchObject({ id: done.success.id, state: "SUCCESS", result: 5, tier: null });
    expect(Math.abs(Date.parse(ok.json!.expiresAt as string) - (await ttlInstant(done.success.id)))).toBeLessThan(2_000);

    const failed = await ebbCli(redis.url, ["result", done.failure.id]);
    expect(failed.code).toBe(1);
    expect(failed.json).toMatchObject({
      state: "FAILURE",
      result: { exc_type: "ValueError", exc_message: ["bad input"], exc_module: "builtins" },
    });

    const revoked = await ebbCli(redis.url, ["result", done.revoked.id]);
    expect(revoked.code).toBe(1);
    expect(revoked.json).toMatchObject({ state: "REVOKED", result: { exc_type: "TaskRevokedError", exc_message: ["expired"] } });
  });

  it("an id Python never stored reads PENDING (exit 2), and get() times out instead of hanging", async () => {
    const unknown = await ebbCli(redis.url, ["result", "no-such-task-id"]);
    expect(unknown.code).toBe(2);
    expect(unknown.json).toMatchObject({ id: "no-such-task-id", state: "PENDING", result: null, expiresAt: null });
    await expect(ebbApp.app.asyncResult("no-such-task-id").get({ timeoutMs: 300 })).rejects.toMatchObject({ code: "TIMEOUT" });
  });
});
