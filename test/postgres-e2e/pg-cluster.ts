/**
 * A PostgreSQL cluster of the test's own, for restart tests: initdb into a fresh temporary
 * folder, a random free port (reserved, as for redis-server.ts), listening on 127.0.0.1 only,
 * unix sockets in that folder, trust auth, fsync on (so a stop and start keeps every commit).
 * The shared cluster on port 5432 is never touched.
 *
 * initdb and postgres refuse to run as root: as root they run as the `postgres` OS user (setpriv,
 * which execs in place so the server is our child and dies with us; runuser where setpriv cannot
 * switch user), and the folder is chown'ed to it. Not as root, they run as we are.
 *
 * The server is spawned directly (not through pg_ctl) so it is this process's child: stop()
 * signals the postmaster as `pg_ctl stop -m` does (immediate: SIGQUIT, the crash-like case; fast:
 * SIGINT) and waits for it to exit. destroy() (afterAll) stops it and removes the folder; an
 * "exit" handler and, where setpriv has it, the kernel's parent-death signal kill it if the test
 * process ends some other way.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort, releasePort } from "../support/free-port.js";

const OS_USER = "postgres";

/** The directory holding initdb and postgres: pg_config's, else the newest /usr/lib/postgresql/N/bin, else PATH's. */
export function postgresBinDir(): string {
  const fromConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8", timeout: 5_000 });
  const dir = fromConfig.status === 0 ? fromConfig.stdout.trim() : "";
  if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres"))) return dir;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  if (versions.length > 0) return join(root, versions[0]!, "bin");
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim()) return join(which.stdout.trim(), "..");
  throw new Error("No PostgreSQL server binaries (initdb, postgres): not in `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH");
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function osUserIds(user: string): { uid: number; gid: number } {
  const uid = spawnSync("id", ["-u", user], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", user], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) throw new Error(`Running as root, and there is no OS user "${user}" to run PostgreSQL as`);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

let setprivOptions: { user: boolean; pdeathsig: boolean } | undefined;

function setpriv(): { user: boolean; pdeathsig: boolean } {
  if (!setprivOptions) {
    const r = process.platform === "linux" ? spawnSync("setpriv", ["--help"], { encoding: "utf8", timeout: 5_000 }) : null;
    const help = r?.status === 0 ? r.stdout : "";
    setprivOptions = { user: help.includes("--reuid"), pdeathsig: help.includes("--pdeathsig") };
  }
  return setprivOptions;
}

/**
 * [command, args] that run `binary` as the postgres OS user when we are root, and (where setpriv
 * can) SIGKILLed by the kernel when this process dies. setpriv execs in place, so the pid is the
 * binary's own; runuser forks, so the binary is its child.
 */
function asPostgres(binary: string, args: string[], dieWithUs: boolean): [string, string[]] {
  const sp = setpriv();
  const death = dieWithUs && sp.pdeathsig ? ["--pdeathsig", "KILL"] : [];
  if (!isRoot) return death.length > 0 ? ["setpriv", [...death, "--", binary, ...args]] : [binary, args];
  if (sp.user) return ["setpriv", [`--reuid=${OS_USER}`, `--regid=${OS_USER}`, "--init-groups", ...death, "--", binary, ...args]];
  return ["runuser", ["-u", OS_USER, "--", binary, ...args]];
}

export type StopMode = "immediate" | "fast";

const SIGNALS: Record<StopMode, NodeJS.Signals> = { immediate: "SIGQUIT", fast: "SIGINT" };

export class PgCluster {
  readonly dir: string;
  readonly dataDir: string;
  #child: ChildProcess | null = null;
  #exited: Promise<void> | null = null;
  #log = "";

  private constructor(
    readonly bin: string,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "ebb-pg-e2e-"));
    this.dataDir = join(this.dir, "data");
  }

  /** initdb a fresh cluster on a free port and start it. */
  static async start(): Promise<PgCluster> {
    const bin = postgresBinDir();
    for (let attempt = 1; ; attempt++) {
      const cluster = new PgCluster(bin, await freePort());
      // Whatever happens to the test, never leave a server, its files or its port's reservation behind.
      process.once("exit", () => {
        cluster.#kill();
        rmSync(cluster.dir, { recursive: true, force: true });
        releasePort(cluster.port);
      });
      try {
        cluster.#initdb();
        await cluster.start();
        return cluster;
      } catch (e) {
        await cluster.destroy();
        if (attempt >= 5 || !(e instanceof PortTakenError)) throw e;
      }
    }
  }

  /** A URL for Ebb: the cluster's postgres database, tables in `schema`. */
  url(schema: string): string {
    return `postgresql://${OS_USER}@127.0.0.1:${this.port}/postgres?schema=${schema}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** What the server wrote to stderr (for failure messages). */
  log(): string {
    return this.#log;
  }

  #initdb(): void {
    if (isRoot) {
      const { uid, gid } = osUserIds(OS_USER);
      chownSync(this.dir, uid, gid);
    }
    const [command, args] = asPostgres(
      join(this.bin, "initdb"),
      ["-D", this.dataDir, "-U", OS_USER, "-A", "trust", "-E", "UTF8", "--locale=C"],
      false,
    );
    const r = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`initdb failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}\n${r.error?.message ?? ""}`);
  }

  /** Start (again) on the same port and data; resolves once it takes queries (crash recovery done). Returns ms taken. */
  async start(): Promise<number> {
    if (this.#child) throw new Error(`PostgreSQL on port ${this.port} is already running`);
    const started = performance.now();
    const settings = {
      listen_addresses: "127.0.0.1",
      unix_socket_directories: this.dir,
      fsync: "on",
      synchronous_commit: "on",
      full_page_writes: "on",
      shared_buffers: "32MB",
      max_connections: "100",
    };
    const args = ["-D", this.dataDir, "-p", String(this.port), ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
    const [command, argv] = asPostgres(join(this.bin, "postgres"), args, true);
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    child.stdout!.on("data", (d) => (this.#log += d));
    child.stderr!.on("data", (d) => (this.#log += d));
    let gone = false;
    this.#exited = new Promise<void>((r) =>
      child.once("exit", () => {
        gone = true;
        r();
      }),
    );
    const deadline = performance.now() + 30_000;
    for (;;) {
      if (gone) {
        this.#child = null;
        const message = `postgres on port ${this.port} exited at start:\n${this.#log}`;
        throw /could not bind|Address already in use/i.test(this.#log) ? new PortTakenError(message) : new Error(message);
      }
      // Only our own server counts: another one could answer on this port.
      if ((await this.#dataDirectory()) === this.dataDir) return performance.now() - started;
      if (performance.now() > deadline) {
        await this.stop("immediate");
        throw new Error(`postgres (pid ${child.pid}) on port ${this.port} did not take queries within 30 s:\n${this.#log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** `pg_ctl stop -m immediate` (SIGQUIT: no checkpoint, crash recovery at the next start) or `-m fast` (SIGINT), and wait for the exit. */
  async stop(mode: StopMode = "immediate"): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    const pid = this.#postmasterPid() ?? child.pid;
    if (child.exitCode === null && child.signalCode === null && pid !== undefined) {
      try {
        process.kill(pid, SIGNALS[mode]);
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => this.#kill(), 15_000);
      await this.#exited;
      clearTimeout(timer);
    }
    // Under runuser the postmaster is runuser's child: wait for it too.
    if (pid !== undefined) await waitGone(pid, 15_000);
  }

  /** Stop it, remove its files and give its port back (afterAll). */
  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => this.#kill());
    rmSync(this.dir, { recursive: true, force: true });
    releasePort(this.port);
  }

  /** A plain connected client, for looking at tables; the caller ends it. */
  async client(): Promise<pg.Client> {
    const client = new pg.Client({ host: "127.0.0.1", port: this.port, user: OS_USER, database: "postgres" });
    client.on("error", () => undefined);
    await client.connect();
    return client;
  }

  /** The server's data_directory, or null when it does not take queries (not up, or still recovering). */
  async #dataDirectory(): Promise<string | null> {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: this.port,
      user: OS_USER,
      database: "postgres",
      connectionTimeoutMillis: 1_000,
    });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ data_directory: string }>("SHOW data_directory");
      return rows[0]?.data_directory ?? null;
    } catch {
      return null;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  #postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Synchronous last resort: SIGKILL the postmaster (its backends exit when it dies). */
  #kill(): void {
    for (const pid of [this.#postmasterPid(), this.#child?.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    this.#child = null;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (performance.now() > deadline) {
      process.kill(pid, "SIGKILL");
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** postgres could not bind its port: someone took it after freePort() looked. */
class PortTakenError extends Error {}
