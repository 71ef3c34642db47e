import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, vi } from "vitest";
import { describeWithService, SERVICES } from "../support/services.js";

/**
 * Shared harness of the Celery-database suites: a real Celery 5.2.6 (Debian's python3-celery with
 * SQLAlchemy 1.4 and psycopg2; always /usr/bin/python3, never the pyenv python3 on PATH) writes
 * celery_taskmeta through test/celery-db/python/celery_db.py, and Ebb's CeleryDbBackend reads it.
 * Each test gets its own SQLite file, or its own PostgreSQL schema (dropped afterwards).
 */
export const PY = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./python/celery_db.py", import.meta.url));

let probe: { ok: boolean; reason: string } | undefined;

function pythonCeleryDb(): { ok: boolean; reason: string } {
  if (!probe) {
    const r = spawnSync(PY, ["-c", "import celery, sqlalchemy, psycopg2; print(celery.__version__, sqlalchemy.__version__)"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    probe =
      r.status === 0
        ? { ok: true, reason: r.stdout.trim() }
        : {
            ok: false,
            reason: `${PY} cannot import celery, sqlalchemy and psycopg2 (${r.error?.message ?? r.stderr.trim().split("\n").pop() ?? "no output"}); install python3-celery python3-sqlalchemy python3-psycopg2`,
          };
  }
  return probe;
}

/**
 * describe() for a suite that needs Python Celery (and PostgreSQL when asked): skipped with a
 * reason, or failed under CI=true. Tests and hooks get 90 s: each celery_db.py run imports
 * Celery and SQLAlchemy (about 1 s, several on a loaded 2-core machine), and a test runs up to 5.
 */
export async function describeCeleryDb(title: string, service: "postgres" | null, body: () => void): Promise<void> {
  vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 });
  const py = pythonCeleryDb();
  if (!py.ok) {
    if (process.env.CI) throw new Error(`${title}: ${py.reason}, and CI=true`);
    process.stderr.write(`[ebb tests] SKIPPED "${title}": ${py.reason}\n`);
    describe.skip(`${title} (skipped: no Python Celery with SQLAlchemy)`, body);
    return;
  }
  if (service) await describeWithService(service, title, body);
  else describe(title, body);
}

/** What the Python script takes for one result (see its docstring). */
export interface PySpec {
  id: string;
  state: string;
  result?: unknown;
  error?: string;
  extended?: { name?: string; args?: unknown[]; kwargs?: Record<string, unknown>; worker?: string; retries?: number; queue?: string };
  age_seconds?: number;
}

/** What Python's AsyncResult reads back for one id. */
export interface PyRead {
  id: string;
  state: string;
  result: unknown;
  date_done: string | null;
  name: string | null;
  args: unknown;
  kwargs: unknown;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

/** One Celery database for one test: the URL Celery uses, the URL Ebb uses, plain SQL access, cleanup. */
export interface CeleryDb {
  engine: "sqlite" | "postgres";
  /** What Celery was configured with (PostgreSQL: the schema goes through database_table_schemas). */
  celeryUrl: string;
  schema: string;
  /** The same database as Ebb takes it. */
  ebbUrl: string;
  /** Celery stores these results. */
  store(spec: PySpec[]): Promise<void>;
  /** Celery reads these ids back (unpickling our own test data). */
  read(ids: string[]): Promise<PyRead[]>;
  /** One SQL query on the database (test inspection only), Celery's tables unqualified; $1-style parameters. */
  sql<T>(text: string, values?: unknown[]): Promise<T[]>;
  cleanup(): Promise<void>;
}

function runPy(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      PY,
      [SCRIPT, ...args],
      {
        env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" },
        timeout: 120_000,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`celery_db.py ${args[0]} failed: ${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

function pyHelpers(celeryUrl: string, schema: string) {
  return {
    store: async (spec: PySpec[]) => void (await runPy(["store", celeryUrl, schema, JSON.stringify(spec)])),
    read: async (ids: string[]) =>
      (await runPy(["read", celeryUrl, schema, ...ids]))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as PyRead),
  };
}

export async function sqliteCeleryDb(): Promise<CeleryDb> {
  const dir = mkdtempSync(join(tmpdir(), "ebb-celery-db-"));
  const path = join(dir, "celery.db");
  // SQLAlchemy: "sqlite:///" + an absolute path starting with "/" gives the four slashes.
  const url = `db+sqlite:///${path}`;
  const { default: Database } = await import("better-sqlite3");
  return {
    engine: "sqlite",
    celeryUrl: url,
    schema: "",
    ebbUrl: url,
    ...pyHelpers(url, ""),
    sql: async <T>(text: string, values: unknown[] = []) => {
      const db = new Database(path);
      try {
        const statement = db.prepare(text.replace(/\$\d+/g, "?"));
        if (statement.reader) return statement.all(...values) as T[];
        statement.run(...values);
        return [];
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresCeleryDb(): Promise<CeleryDb> {
  const { host, port } = SERVICES.postgres;
  const base = `postgresql://postgres@${host}:${port}/test`;
  const schema = `ebb_celery_${randomBytes(6).toString("hex")}`;
  // The test's own SQL finds Celery's tables by search_path, as unqualified names.
  const pool = new pg.Pool({ connectionString: `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`, max: 2 });
  await pool.query(`CREATE SCHEMA ${schema}`);
  const celeryUrl = `db+${base}`;
  return {
    engine: "postgres",
    celeryUrl,
    schema,
    ebbUrl: `db+${base}?schema=${schema}`,
    ...pyHelpers(celeryUrl, schema),
    sql: async <T>(text: string, values: unknown[] = []) => (await pool.query(text, values)).rows as T[],
    cleanup: async () => {
      await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await pool.end();
    },
  };
}
