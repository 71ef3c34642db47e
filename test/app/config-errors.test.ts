import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { ConfigError, EbbError, UnknownSchemeError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { memUrl, newApp } from "./helpers.js";

/** Run fn, return what it threw (sync or async); fail if it did not throw. */
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, nothing was thrown");
}

async function expectConfigError(fn: () => unknown, ...mentions: string[]): Promise<ConfigError> {
  const err = await thrown(fn);
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toBeInstanceOf(EbbError);
  // The one subclass with its own code: an unknown URL scheme.
  expect((err as ConfigError).code).toBe(err instanceof UnknownSchemeError ? "UNKNOWN_SCHEME" : "CONFIG");
  for (const m of mentions) expect((err as Error).message).toContain(m);
  return err as ConfigError;
}

const app = (config: Parameters<typeof createApp>[0]) => () => createApp({ broker: memUrl(), ...config }, { log: silentLogger });

describe("configuration errors name the option and the value", () => {
  it("resultExpires: -1", async () => {
    await expectConfigError(app({ resultExpires: -1 }), "resultExpires", "-1");
  });

  it('resultExpires: "-5m" (negative)', async () => {
    await expectConfigError(app({ resultExpires: "-5m" }), "resultExpires", "-5m", "negative");
  });

  it('resultExpires: "5 minutes"', async () => {
    await expectConfigError(app({ resultExpires: "5 minutes" }), "resultExpires", '"5 minutes"');
  });

  it("other app duration options and tiers", async () => {
    await expectConfigError(app({ expiredGrace: "soon" }), "expiredGrace", "soon");
    await expectConfigError(app({ retryDelay: null }), "retryDelay");
    await expectConfigError(app({ tiers: { eu: { expires: "forever" } } }), "tiers", "forever");
  });

  it("an unknown createApp option", async () => {
    // @ts-expect-error resultExpire is not an option (a typo of resultExpires)
    await expectConfigError(app({ resultExpire: "1h" }), "resultExpire");
  });

  it("an unknown tier in app.task(..., { tier })", async () => {
    const a = newApp();
    const err = await expectConfigError(() => a.task("t", async () => 1, { tier: "nope" }), '"nope"', "tier");
    // it also says which tiers exist
    expect(err.message).toContain("realtime");
    expect(a.tasks.has("t")).toBe(false);
  });

  it("a bad task option names the task and the option", async () => {
    const a = newApp();
    await expectConfigError(() => a.task("t", async () => 1, { resultExpires: "5 minutes" }), "resultExpires", "5 minutes", '"t"');
  });

  it("a duplicate task name", async () => {
    const a = newApp();
    a.task("dup.name", async () => 1);
    await expectConfigError(() => a.task("dup.name", async () => 2), "dup.name");
  });

  it("a bad per-call option rejects the call and sends nothing", async () => {
    const a = newApp();
    const t = a.task("t", async () => 1);
    await expectConfigError(() => t.applyAsync([], { resultExpires: "bogus" }), "resultExpires", "bogus");
    await expectConfigError(() => t.applyAsync([], { countdown: "10s", eta: new Date() }), "eta", "countdown");
    await expectConfigError(() => t.applyAsync([], { eta: "not a date" }), "eta", "not a date");
    const broker = await a.broker();
    expect(await broker.fetch(["celery"], 10, { visibilityTimeoutMs: 1_000, waitMs: 0 })).toEqual([]);
  });

  // The brief asked for "on first use"; createApp now checks schemes up front (before any
  // connection is tried), which is earlier and better: the error surfaces where the URL is given.
  it('an unknown broker scheme "foo://x" is refused with an UnknownSchemeError naming the scheme and the known ones', async () => {
    const err = await expectConfigError(
      () => createApp({ broker: "foo://x", backend: memUrl() }, { log: silentLogger }),
      '"foo://"',
      "broker",
      "memory://",
    );
    expect(err).toBeInstanceOf(UnknownSchemeError);
  });

  it('an unknown backend scheme "bar://y" is refused the same way', async () => {
    const err = await expectConfigError(
      () => createApp({ broker: memUrl(), backend: "bar://y" }, { log: silentLogger }),
      '"bar://"',
      "backend",
    );
    expect(err).toBeInstanceOf(UnknownSchemeError);
  });

  it("an unknown scheme from EBB_BROKER_URL is refused too", async () => {
    await expectConfigError(
      () => createApp({ backend: memUrl() }, { log: silentLogger, env: { EBB_BROKER_URL: "foo://from-env" } }),
      "foo://",
    );
  });

  it("an unknown broker scheme without a backend is refused at createApp, naming the scheme", async () => {
    await expectConfigError(() => createApp({ broker: "foo://x" }, { log: silentLogger, env: {} }), "foo://");
  });

  it("secrets in a bad URL are not echoed", async () => {
    const err = await expectConfigError(
      () => createApp({ broker: "foo://user:hunter2@host/0", backend: memUrl() }, { log: silentLogger }),
      "foo://",
    );
    expect(err.message).not.toContain("hunter2");
    expect(err.message).toContain("user:***@host");
  });
});
