/**
 * A redis-server of the test's own on a random free port, persisting to an append-only file
 * (fsync always) in a temporary dir, or not at all. Restart tests stop and start it; MONITOR
 * tests use one so that every command they see is the test's own (the shared Redis carries other
 * files' traffic, and ioredis's monitor mode trips over a busy server); the interop suites use
 * one because Python Celery has no key prefix. It dies with the test process that started it,
 * even one killed by SIGKILL (setpriv --pdeathsig, where util-linux has it).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { dieWithParent } from "./die-with-parent.js";
import { freePort, releasePort } from "./free-port.js";

/** Poll until check() is true; throws naming `what` after timeoutMs. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The pid of the redis-server that answers on this port (INFO server over a raw socket), or null
 * when nothing answers yet or it is still loading. Comparing it with our child's pid tells our
 * server from another run's that took the same port first.
 */
function serverPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = new Socket();
    let reply = "";
    const done = (v: number | null) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(500, () => done(null));
    s.once("error", () => done(null));
    s.on("data", (d) => {
      reply += String(d);
      if (reply.startsWith("-")) return done(null);
      const m = /process_id:(\d+)/.exec(reply);
      if (m) done(Number(m[1]));
    });
    s.connect(port, "127.0.0.1", () => s.write("INFO server\r\n"));
  });
}

export interface RedisServerOptions {
  /** Append-only file, fsync always, so a stop and start keeps every acknowledged write (default true). */
  persist?: boolean;
}

/**
 * A redis-server of the test's own on a random free port, persisting to an append-only file
 * (fsync always) in a temporary dir, so a stop and start keeps every acknowledged write; or,
 * with { persist: false }, keeping nothing on disk.
 */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), "ebb-redis-e2e-"));
  #child: ChildProcess | null = null;
  #log = "";
  private constructor(
    readonly port: number,
    readonly persist: boolean,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    // Another run may take the free port between the look and the bind: then try another one.
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(), options.persist ?? true);
      // Whatever happens to the test, never leave a redis-server (or its port's reservation) behind.
      process.once("exit", () => {
        server.#child?.kill("SIGKILL");
        releasePort(server.port);
      });
      try {
        await server.start();
        return server;
      } catch (e) {
        await server.destroy();
        if (attempt >= 5 || !(e instanceof PortTakenError)) throw e;
      }
    }
  }

  url(prefix = ""): string {
    return `redis://127.0.0.1:${this.port}/0${prefix ? `?prefix=${prefix}` : ""}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Start (again) on the same port and dir; resolves once it answers (the AOF is loaded). Returns ms taken. */
  async start(): Promise<number> {
    const started = performance.now();
    const disk = this.persist ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", ...disk, "--dir", this.dir, "--daemonize", "no"];
    const [command, argv] = dieWithParent("redis-server", args);
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    child.stdout!.on("data", (d) => (this.#log += d));
    child.stderr!.on("data", (d) => (this.#log += d));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor(
      `redis-server (pid ${child.pid}) on port ${this.port} to answer\n${this.#log}`,
      async () => {
        if (gone) {
          this.#child = null;
          const message = `redis-server on port ${this.port} exited at start:\n${this.#log}`;
          throw /Address already in use/i.test(this.#log) ? new PortTakenError(message) : new Error(message);
        }
        // Only our own process counts: another run's server on this port also answers.
        return (await serverPid(this.port)) === child.pid;
      },
      10_000,
    );
    return performance.now() - started;
  }

  /** SIGTERM and wait for the process to exit (SIGKILL after 10 s). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stop it, remove its files and give its port back (afterAll). */
  async destroy(): Promise<void> {
    await this.stop("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
    releasePort(this.port);
  }

  /** A plain client for looking at keys; it does not queue commands while the server is down. */
  client(): Redis {
    return new Redis({ host: "127.0.0.1", port: this.port, maxRetriesPerRequest: 1, connectionName: "ebbtest-admin" });
  }
}

/** redis-server could not bind its port: someone took it after freePort() looked. */
class PortTakenError extends Error {}
