import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { sqlitePathFromUrl } from "../../src/sqlite/sqlite-url.js";

describe("sqlite:// URLs", () => {
  it("reads a relative path against the working directory", () => {
    expect(sqlitePathFromUrl("sqlite://./ebb.db")).toBe(resolve(process.cwd(), "ebb.db"));
    expect(sqlitePathFromUrl("sqlite://data/ebb.db")).toBe(join(process.cwd(), "data", "ebb.db"));
  });

  it("reads an absolute path after the third slash", () => {
    expect(sqlitePathFromUrl("sqlite:///tmp/x.db")).toBe("/tmp/x.db");
  });

  it("accepts :memory:", () => {
    expect(sqlitePathFromUrl("sqlite://:memory:")).toBe(":memory:");
  });

  it("accepts the scheme in any case", () => {
    expect(sqlitePathFromUrl("SQLite:///tmp/x.db")).toBe("/tmp/x.db");
  });

  it("rejects an empty path with an example of a good URL", () => {
    expect(() => sqlitePathFromUrl("sqlite://")).toThrow(ConfigError);
    expect(() => sqlitePathFromUrl("sqlite://")).toThrow(/"sqlite:\/\/" names no database file.*"sqlite:\/\/\.\/ebb\.db"/);
  });

  it("rejects another scheme, without printing a password", () => {
    const run = (): string => sqlitePathFromUrl("redis://user:hunter2@localhost:6379/0");
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/redis:\/\/user:\*\*\*@localhost/);
    expect(run).not.toThrow(/hunter2/);
  });
});
