import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { backendFromUrl, checkBackendUrl } from "../../src/backends/by-url.js";
import { CeleryDbBackend } from "../../src/backends/celery-db/celery-db-backend.js";
import { parseCeleryDbUrl } from "../../src/backends/celery-db/celery-db-url.js";
import { ConfigError, StoreUnavailableError } from "../../src/errors.js";

// Celery users paste their result-backend URL as it is: SQLAlchemy's slashes, db+ prefix, and a
// missing file, table or server is one clear error naming the URL without its password.

describe("Celery database URLs", () => {
  it("reads SQLAlchemy's slashes: three relative to the working directory, four absolute", () => {
    expect(parseCeleryDbUrl("db+sqlite:///results/celery.db")).toMatchObject({
      kind: "sqlite",
      path: resolve(process.cwd(), "results/celery.db"),
    });
    expect(parseCeleryDbUrl("db+sqlite:////var/lib/celery.db")).toMatchObject({ kind: "sqlite", path: "/var/lib/celery.db" });
    expect(parseCeleryDbUrl("db+sqlite:////var/lib/celery.db?timeout=20")).toMatchObject({ path: "/var/lib/celery.db" });
    expect(() => parseCeleryDbUrl("db+sqlite://")).toThrow(ConfigError);
    expect(() => parseCeleryDbUrl("db+sqlite:///")).toThrow(/names no database file/);
  });

  it("takes schema and result_expires for itself and passes the rest of a PostgreSQL URL on", () => {
    expect(
      parseCeleryDbUrl("db+postgresql://celery:s3cret@db.example:5433/results?schema=celery_probe&sslmode=require&result_expires=86400"),
    ).toEqual({
      kind: "postgres",
      connectionString: "postgresql://celery:s3cret@db.example:5433/results?sslmode=require",
      schema: "celery_probe",
      display: "db+postgresql://celery:***@db.example:5433/results?schema=celery_probe&sslmode=require&result_expires=86400",
      resultExpiresMs: 86_400_000,
    });
    // Without the parameter, Celery's own default applies: 1 day.
    expect(parseCeleryDbUrl("db+postgresql+psycopg2://u@h/d")).toMatchObject({
      connectionString: "postgresql://u@h/d",
      schema: null,
      resultExpiresMs: 86_400_000,
    });
    expect(parseCeleryDbUrl("db+sqlite:///c.db?result_expires=never")).toMatchObject({ resultExpiresMs: null });
    expect(parseCeleryDbUrl("db+sqlite:///c.db?result_expires=2d")).toMatchObject({ resultExpiresMs: 2 * 86_400_000 });
    expect(() => parseCeleryDbUrl("db+postgresql://u@h/d?result_expires=-1")).toThrow(/result_expires.*seconds, a duration/);
    expect(() => parseCeleryDbUrl("db+postgresql://u@h/d?schema=")).toThrow(ConfigError);
    expect(() => parseCeleryDbUrl("db+mysql://u@h/d")).toThrow(/Expected a Celery database URL/);
  });

  it("is picked by scheme; Ebb's own stores stay sqlite:// and postgresql://", () => {
    for (const url of ["db+sqlite:///x.db", "db+postgresql://u@h/d", "db+postgresql+psycopg2://u@h/d"])
      expect(() => checkBackendUrl(url)).not.toThrow();
  });
});

describe("Celery database errors", () => {
  it("a missing file is a ConfigError that says how the slashes work, and creates nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-celery-db-url-"));
    try {
      const error = await backendFromUrl(`db+sqlite:///${dir}/missing.db`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/No SQLite database at .*missing\.db.*four make it absolute/);
      // An empty database (or one that is not Celery's) has no celery_taskmeta table.
      new Database(join(dir, "other.db")).close();
      const noTable = await backendFromUrl(`db+sqlite:///${dir}/other.db`).catch((e: unknown) => e);
      expect(noTable).toBeInstanceOf(ConfigError);
      expect((noTable as Error).message).toContain("has no celery_taskmeta table");
      writeFileSync(join(dir, "junk.db"), "this is not a database at all, just text that is long enough");
      const junk = await backendFromUrl(`db+sqlite:///${dir}/junk.db`).catch((e: unknown) => e);
      expect(junk).toBeInstanceOf(ConfigError);
      expect((junk as Error).message).toContain("not a database");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an unreachable PostgreSQL is StoreUnavailableError naming the URL without its password", async () => {
    const error = await new CeleryDbBackend({ url: "db+postgresql://celery:s3cret@127.0.0.1:1/test" }).connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toContain("db+postgresql://celery:***@127.0.0.1:1/test");
    expect((error as Error).message).not.toContain("s3cret");
  });
});
