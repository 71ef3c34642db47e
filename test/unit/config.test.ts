import { describe, it, expect } from "vitest";
import { manualClock, systemClock } from "../../src/clock.js";
import { DEFAULTS, resolveConfig, type AppConfig } from "../../src/config.js";
import { ConfigError, UnknownSchemeError } from "../../src/errors.js";
import { BUILTIN_TIERS } from "../../src/retention/tiers.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function configErrorOf(input: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    resolveConfig(input as AppConfig, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("resolveConfig defaults (empty env)", () => {
  it("fills every default", () => {
    const { beatSchedule, ...c } = resolveConfig({}, {});
    expect(beatSchedule.map((e) => [e.name, e.task, String(e.schedule), e.timezone, e.options])).toEqual([
      ["celery.backend_cleanup", "celery.backend_cleanup", 'crontab(minute="0", hour="4")', "UTC", { expires: "12h" }],
    ]);
    expect(c).toEqual({
      broker: "sqlite://./ebb.db",
      backend: "sqlite://./ebb.db",
      resultExpiresMs: DAY,
      expiredGraceMs: 7 * DAY,
      tiers: BUILTIN_TIERS,
      ignoreResult: false,
      storeErrorsEvenIfIgnored: true,
      resultExtended: false,
      defaultQueue: "celery",
      resultTimeoutMs: MIN,
      visibilityTimeoutMs: HOUR,
      retryDelayMs: 3 * MIN,
      maxRetries: 3,
      trackStarted: false,
      timeLimitMs: null,
      softTimeLimitMs: null,
      archiveDir: "./ebb-archives",
      timezone: "UTC",
      workerEvents: false,
      history: { everyMs: 5 * MIN, keepMs: 14 * DAY },
      clock: systemClock,
    });
  });

  it("history: beat's samples every 5m kept 14d by default; false turns it off; errors name the option", () => {
    expect(resolveConfig({ history: { every: "1m" } }, {}).history).toEqual({ everyMs: MIN, keepMs: 14 * DAY });
    expect(resolveConfig({ history: { every: "1h", keep: "30d" } }, {}).history).toEqual({ everyMs: HOUR, keepMs: 30 * DAY });
    expect(resolveConfig({ history: {} }, {}).history).toEqual({ everyMs: 5 * MIN, keepMs: 14 * DAY });
    expect(resolveConfig({ history: false }, {}).history).toBeNull();
    expect(() => resolveConfig({ history: { every: "5x" } }, {})).toThrow(/Expected history\.every to be a duration/);
    expect(() => resolveConfig({ history: { keep: null } }, {})).toThrow(/history\.keep cannot be never/);
    expect(() => resolveConfig({ history: { every: "0s" } }, {})).toThrow(/option history\.every: expected at least 1s, got 0s/);
    expect(() => resolveConfig({ history: { every: "1h", keep: "30m" } }, {})).toThrow(
      /option history\.keep: expected at least history\.every \(1h\)/,
    );
    expect(() => resolveConfig({ history: { evry: "5m" } } as never, {})).toThrow(/unknown option "evry" in history/);
    expect(() => resolveConfig({ history: true } as never, {})).toThrow(/option history: expected \{ every, keep \} or false, got true/);
  });

  it("is the same with no input at all", () => {
    const { beatSchedule: a, ...none } = resolveConfig(undefined, {});
    const { beatSchedule: b, ...empty } = resolveConfig({}, {});
    expect(none).toEqual(empty);
    expect(a.map((e) => e.ticks.fingerprint)).toEqual(b.map((e) => e.ticks.fingerprint));
  });

  it("documents the defaults it applies", () => {
    expect(DEFAULTS).toMatchObject({
      broker: "sqlite://./ebb.db",
      resultExpires: "24h",
      maxRetries: 3,
      defaultQueue: "celery",
      resultExtended: false,
    });
  });

  it("resultExtended is off unless asked for (Celery's result_extended default); a non-boolean is named in the error", () => {
    expect(resolveConfig({}, {}).resultExtended).toBe(false);
    expect(resolveConfig({ resultExtended: true }, {}).resultExtended).toBe(true);
    const e = configErrorOf({ resultExtended: "yes" });
    expect(e.message).toContain("resultExtended");
  });

  it("keeps an injected clock", () => {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    expect(resolveConfig({ clock }, {}).clock()).toBe(Date.UTC(2030, 0, 1));
  });
});

describe("broker and backend", () => {
  it("reads EBB_BROKER_URL and EBB_BACKEND_URL", () => {
    const c = resolveConfig({}, { EBB_BROKER_URL: "memory://jobs", EBB_BACKEND_URL: "sqlite://./results.db" });
    expect(c.broker).toBe("memory://jobs");
    expect(c.backend).toBe("sqlite://./results.db");
  });

  it("prefers options over the environment", () => {
    const c = resolveConfig(
      { broker: "memory://", backend: "memory://b" },
      { EBB_BROKER_URL: "sqlite://./env.db", EBB_BACKEND_URL: "sqlite://./env2.db" },
    );
    expect(c.broker).toBe("memory://");
    expect(c.backend).toBe("memory://b");
  });

  it("an explicit backend wins over the broker default", () => {
    expect(resolveConfig({ broker: "sqlite://./a.db", backend: "memory://" }, {}).backend).toBe("memory://");
  });

  it.each(["sqlite://./other.db", "memory://", "SQLITE://./x.db", "postgresql://db/ebb", "postgres://db/ebb"])(
    "the backend defaults to a %s broker",
    (broker) => {
      expect(resolveConfig({ broker }, {}).backend).toBe(broker);
      expect(resolveConfig({}, { EBB_BROKER_URL: broker }).backend).toBe(broker);
    },
  );

  it("a broker scheme with no implementation here is rejected at once, listing the known schemes and hiding the password", () => {
    const e = configErrorOf({ broker: "nats://user:s3cret@nats.internal:4222" }, { EBB_BACKEND_URL: "memory://" });
    expect(e).toBeInstanceOf(UnknownSchemeError);
    expect(e.message).toContain("broker");
    expect(e.message).toContain('"nats://"');
    expect(e.message).toContain("sqlite://");
    expect(e.message).toContain("memory://");
    expect(e.message).not.toContain("s3cret");
  });

  it("a redis broker without a backend keeps results in the same Redis (as the broker URL says)", () => {
    expect(resolveConfig({ broker: "redis://127.0.0.1:6379/3" }, {}).backend).toBe("redis://127.0.0.1:6379/3");
  });

  it("a broker from the environment that cannot hold results, with no backend, is an error", () => {
    const e = configErrorOf({}, { EBB_BROKER_URL: "amqp://guest:guest@localhost//" });
    expect(e.message).toContain("amqp://");
  });

  it("an unknown broker scheme is rejected at resolve time, naming the option", () => {
    const e = configErrorOf({ broker: "mongodb://admin:pw123@mongo/db", backend: "memory://" });
    expect(e).toBeInstanceOf(UnknownSchemeError);
    expect(e.message).toContain("broker");
    expect(e.message).not.toContain("pw123");
  });

  it("an unknown backend scheme is rejected at resolve time, naming the option", () => {
    const e = configErrorOf({ broker: "memory://", backend: "cassandra://h/ks" });
    expect(e).toBeInstanceOf(UnknownSchemeError);
    expect(e.message).toContain("backend");
    expect(e.message).toContain("cassandra://");
  });

  it("rejects an empty broker", () => {
    expect(configErrorOf({ broker: "" }).message).toContain("broker");
  });
});

describe("durations and numbers", () => {
  it("parses every duration option", () => {
    const c = resolveConfig(
      { resultExpires: "5m", expiredGrace: "1d", resultTimeout: "30s", visibilityTimeout: "2h", retryDelay: "10s" },
      {},
    );
    expect(c).toMatchObject({
      resultExpiresMs: 5 * MIN,
      expiredGraceMs: DAY,
      resultTimeoutMs: 30_000,
      visibilityTimeoutMs: 2 * HOUR,
      retryDelayMs: 10_000,
    });
  });

  it("null resultExpires means never (not the default)", () => {
    expect(resolveConfig({ resultExpires: null }, {}).resultExpiresMs).toBeNull();
    expect(resolveConfig({ resultExpires: "never" }, {}).resultExpiresMs).toBeNull();
  });

  it('"0s" resultExpires is zero', () => {
    expect(resolveConfig({ resultExpires: "0s" }, {}).resultExpiresMs).toBe(0);
  });

  it("null resultTimeout means wait forever; maxRetries null means unlimited", () => {
    const c = resolveConfig({ resultTimeout: null, maxRetries: null }, {});
    expect(c.resultTimeoutMs).toBeNull();
    expect(c.maxRetries).toBeNull();
  });

  it("maxRetries 0 is kept", () => {
    expect(resolveConfig({ maxRetries: 0 }, {}).maxRetries).toBe(0);
  });

  it.each([
    ["5 minutes", '"5 minutes"'],
    ["-5m", '"-5m"'],
    [300, "300"],
    ["", '""'],
  ] as const)("bad resultExpires %j is rejected naming resultExpires and the value", (value, shown) => {
    const e = configErrorOf({ resultExpires: value });
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain(shown);
  });

  it.each(["visibilityTimeout", "retryDelay", "expiredGrace"] as const)("%s cannot be never", (option) => {
    const e = configErrorOf({ [option]: null });
    expect(e.message).toContain(option);
  });

  it.each([-1, 1.5, "3"])("maxRetries %j is rejected naming maxRetries", (value) => {
    expect(configErrorOf({ maxRetries: value }).message).toContain("maxRetries");
  });

  it("rejects a non-function clock", () => {
    expect(configErrorOf({ clock: 5 }).message).toContain("clock");
  });
});

describe("unknown options and bad values", () => {
  it("names an unknown option", () => {
    const e = configErrorOf({ resultExpire: "1h" });
    expect(e.message).toContain('"resultExpire"');
    expect(e.message).toMatch(/unknown option/);
  });

  it("names Celery's spelling when it is used by mistake", () => {
    expect(configErrorOf({ result_expires: 3600 }).message).toContain('"result_expires"');
  });

  it("rejects a bad defaultQueue", () => {
    expect(configErrorOf({ defaultQueue: "has space" }).message).toContain("defaultQueue");
    expect(resolveConfig({ defaultQueue: "reports.high" }, {}).defaultQueue).toBe("reports.high");
  });

  it("rejects a non-boolean ignoreResult", () => {
    expect(configErrorOf({ ignoreResult: "yes" }).message).toContain("ignoreResult");
  });
});

describe("tiers", () => {
  it("adds user tiers to the built-in ones", () => {
    const c = resolveConfig({ tiers: { "audit-eu": { expires: "30d", action: "archive" } } }, {});
    expect(c.tiers["audit-eu"]).toEqual({ expiresMs: 30 * DAY, action: "archive" });
    for (const [name, tier] of Object.entries(BUILTIN_TIERS)) expect(c.tiers[name]).toEqual(tier);
  });

  it("overrides a built-in tier", () => {
    const c = resolveConfig(
      { tiers: { realtime: { expires: "5m", action: "delete" }, critical: { expires: "365d", action: "archive" } } },
      {},
    );
    expect(c.tiers.realtime).toEqual({ expiresMs: 5 * MIN, action: "delete" });
    expect(c.tiers.critical).toEqual({ expiresMs: 365 * DAY, action: "archive" });
    expect(c.tiers.api).toEqual(BUILTIN_TIERS.api);
  });

  it("does not change BUILTIN_TIERS when overriding", () => {
    resolveConfig({ tiers: { standard: { expires: "1h" } } }, {});
    expect(BUILTIN_TIERS.standard).toEqual({ expiresMs: DAY, action: "delete" });
  });

  it("a user tier's action defaults to delete; expires null is never", () => {
    const c = resolveConfig({ tiers: { forever: { expires: null } } }, {});
    expect(c.tiers.forever).toEqual({ expiresMs: null, action: "delete" });
  });

  it("rejects a bad tier duration showing the value", () => {
    const e = configErrorOf({ tiers: { x: { expires: "-1s" } } });
    expect(e.message).toContain("expires");
    expect(e.message).toContain('"-1s"');
  });

  it("rejects an unknown action", () => {
    const e = configErrorOf({ tiers: { x: { expires: "1d", action: "burn" } } });
    expect(e.message).toContain("action");
  });

  it("rejects an unknown key in a tier", () => {
    expect(configErrorOf({ tiers: { x: { expires: "1d", ttl: "2d" } } }).message).toContain('"ttl"');
  });

  it("rejects a tier without expires", () => {
    expect(configErrorOf({ tiers: { x: { action: "delete" } } }).message).toContain("expires");
  });
});
