import { describe, it, expect } from "vitest";
import { ConfigError, UnknownSchemeError } from "../../src/errors.js";
import { pickByScheme, redactUrl, schemeOf } from "../../src/url.js";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as Error;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("redactUrl", () => {
  it.each([
    ["redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"],
    ["redis://user:s3cret@localhost:6379/0", "redis://user:***@localhost:6379/0"],
    ["rediss://default:s3cret@cache.example.com:6380/1", "rediss://default:***@cache.example.com:6380/1"],
    ["postgresql://ebb:s3cret@db:5432/ebb", "postgresql://ebb:***@db:5432/ebb"],
    ["db+postgresql://ebb:s3cret@db/celery", "db+postgresql://ebb:***@db/celery"],
    ["amqp://guest:guest@localhost:5672//", "amqp://guest:***@localhost:5672//"],
    ["REDIS://u:s3cret@h/0", "REDIS://u:***@h/0"],
    ["redis://u:p%40ss%3Aw0rd@h/0", "redis://u:***@h/0"],
    ["redis://u:a:b:c@h/0", "redis://u:***@h/0"],
  ])("%s", (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });

  it("hides every password in a text with several URLs", () => {
    const text = "broker=redis://:pw1@r1:6379/0 backend=postgresql://app:pw2@pg/db, then rediss://x:pw3@r2/1.";
    const out = redactUrl(text);
    expect(out).toBe("broker=redis://:***@r1:6379/0 backend=postgresql://app:***@pg/db, then rediss://x:***@r2/1.");
    for (const pw of ["pw1", "pw2", "pw3"]) expect(out).not.toContain(pw);
  });

  it("hides a password that contains a raw @ (Python's urlparse splits at the last @)", () => {
    expect(redactUrl("redis://:p@ss@localhost:6379/0")).not.toContain("ss@");
  });

  it.each([
    "redis://localhost:6379/0",
    "postgresql://ebb@db:5432/ebb",
    "sqlite://./ebb.db",
    "db+sqlite:////abs/path.db",
    "memory://",
    "no url here at all: just text",
  ])("leaves %s untouched", (text) => {
    expect(redactUrl(text)).toBe(text);
  });
});

describe("schemeOf", () => {
  it.each([
    ["redis://localhost:6379/0", "redis"],
    ["REDISS://h/0", "rediss"],
    ["db+sqlite:///relative.db", "db+sqlite"],
    ["sqlite://./ebb.db", "sqlite"],
    ["memory://", "memory"],
  ])("%s → %s", (url, scheme) => {
    expect(schemeOf(url, "backend")).toBe(scheme);
  });

  it.each([
    [undefined, "undefined"],
    ["", '""'],
    [42, "42"],
  ])("rejects %j naming the option and the value", (value, shown) => {
    const e = errorOf(() => schemeOf(value, "broker"));
    expect(e.message).toContain("broker");
    expect(e.message).toContain(shown);
  });

  it("rejects a URL without scheme:// and redacts it", () => {
    const e = errorOf(() => schemeOf("localhost:6379", "broker"));
    expect(e.message).toMatch(/scheme/);
    expect(e.message).toContain("localhost:6379");
  });

  it("never prints the password of a URL without a scheme", () => {
    const e = errorOf(() => schemeOf("user:s3cret@redis-host:6379/0", "broker"));
    expect(e.message).not.toContain("s3cret");
  });

  it("never prints the password of a URL with a malformed scheme", () => {
    const e = errorOf(() => schemeOf("redis:/user:s3cret@redis-host:6379/0", "broker"));
    expect(e.message).not.toContain("s3cret");
  });
});

describe("pickByScheme", () => {
  const table = { redis: "R", rediss: "RS", sqlite: "S", memory: "M" };

  it("picks by scheme, case-insensitively", () => {
    expect(pickByScheme("redis://h/0", "backend", table)).toBe("R");
    expect(pickByScheme("Rediss://h/0", "backend", table)).toBe("RS");
    expect(pickByScheme("memory://", "backend", table)).toBe("M");
  });

  it("an unknown scheme lists the known ones, names the option and hides the password", () => {
    let thrown: unknown;
    try {
      pickByScheme("mongodb://admin:s3cret@mongo:27017/db", "backend", table);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UnknownSchemeError);
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as UnknownSchemeError).code).toBe("UNKNOWN_SCHEME");
    const message = (thrown as Error).message;
    expect(message).toContain("backend");
    expect(message).toContain('"mongodb://"');
    expect(message).toContain("redis://, rediss://, sqlite://, memory://");
    expect(message).toContain("admin:***@mongo");
    expect(message).not.toContain("s3cret");
  });

  it("does not pick Object.prototype members as implementations", () => {
    expect(() => pickByScheme("constructor://x", "backend", table)).toThrow(UnknownSchemeError);
  });
});
