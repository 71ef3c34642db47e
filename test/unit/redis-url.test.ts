import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { parseRedisUrl } from "../../src/redis/redis-url.js";

describe("parseRedisUrl", () => {
  it("reads Celery's spellings: host, port, db, password, TLS, and Ebb's prefix", () => {
    expect(parseRedisUrl("redis://localhost:6379/0")).toMatchObject({ host: "localhost", port: 6379, db: 0, tls: false, prefix: "" });
    expect(parseRedisUrl("redis://h")).toMatchObject({ host: "h", port: 6379, db: 0 });
    expect(parseRedisUrl("rediss://:s%40cret@cache.example:6380/3?prefix=app:")).toMatchObject({
      host: "cache.example",
      port: 6380,
      db: 3,
      tls: true,
      password: "s@cret",
      prefix: "app:",
    });
    expect(parseRedisUrl("redis://user:pw@h/1")).toMatchObject({ username: "user", password: "pw", db: 1 });
  });

  it("never keeps the password in the display form", () => {
    expect(parseRedisUrl("redis://user:hunter2@h:6379/2").display).toBe("redis://user:***@h:6379/2");
  });

  it.each([
    ["redis://h/abc", /database.*"abc"/],
    ["redis://h/-1", /database/],
    ["redis://h/0?visibility_timeout=5", /Unknown Redis URL parameter "visibility_timeout"/],
    ["http://h/0", /redis:\/\/ or rediss:\/\//],
    ["redis://user:hunter2@h/x", /database/],
  ])("rejects %s with an error that says what to write", (url, message) => {
    const e = (() => {
      try {
        parseRedisUrl(url);
      } catch (err) {
        return err;
      }
      throw new Error("no error");
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).not.toContain("hunter2");
  });
});
