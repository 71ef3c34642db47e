/**
 * A redis-server of the test's own on a random free port, persisting to an append-only file
 * (fsync always) in a temporary dir. Restart tests stop and start it; MONITOR tests use one so
 * that every command they see is the test's own (the shared Redis carries other files' traffic,
 * and ioredis's monitor mode trips over a busy server).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/** Poll until check() is true; throws naming `what` after timeoutMs. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port nobody listens on now, in 63000-63999. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 63_000 + Math.floor(Math.random() * 1_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** One PING over a raw socket: "PONG", an error line (e.g. LOADING), or null when nothing answers. */
function ping(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = new Socket();
    let reply = "";
    const done = (v: string | null) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(500, () => done(null));
    s.once("error", () => done(null));
    s.on("data", (d) => {
      reply += String(d);
      if (reply.includes("\r\n")) done(reply.trim().replace(/^[+-]/, ""));
    });
    s.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
  });
}

/**
 * A redis-server of the test's own on a random free port, persisting to an append-only file
 * (fsync always) in a temporary dir, so a stop and start keeps every acknowledged write.
 */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), "ebb-redis-e2e-"));
  #child: ChildProcess | null = null;
  #log = "";
  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    // Whatever happens to the test, never leave a redis-server behind.
    process.once("exit", () => server.#child?.kill("SIGKILL"));
    await server.start();
    return server;
  }

  url(prefix = ""): string {
    return `redis://127.0.0.1:${this.port}/0${prefix ? `?prefix=${prefix}` : ""}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Start (again) on the same port and dir; resolves once it answers PONG (the AOF is loaded). Returns ms taken. */
  async start(): Promise<number> {
    const started = performance.now();
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", this.dir, "--daemonize", "no"];
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    child.stdout!.on("data", (d) => (this.#log += d));
    child.stderr!.on("data", (d) => (this.#log += d));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor(`redis-server on port ${this.port} to answer PONG\n${this.#log}`, async () => {
      if (gone) throw new Error(`redis-server on port ${this.port} exited at start:\n${this.#log}`);
      return (await ping(this.port)) === "PONG";
    }, 10_000);
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

  /** Stop it and remove its files (afterAll). */
  async destroy(): Promise<void> {
    await this.stop("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A plain client for looking at keys; it does not queue commands while the server is down. */
  client(): Redis {
    return new Redis({ host: "127.0.0.1", port: this.port, maxRetriesPerRequest: 1, connectionName: "ebbtest-admin" });
  }
}

