import { createHash } from "node:crypto";
import type { Client } from "pg";
import type { Logger } from "../../logger.js";
import { quoteIdent } from "../../postgres/pg-url.js";

export interface NotifyListenerOptions {
  /** A new connection of its own, outside any pool (PostgresPool.dedicated()). */
  connect: () => Promise<Client>;
  /**
   * The channels listened to, each with what to call with the payload of every notification on
   * it, and with null each time listening (re)starts.
   */
  channels: Readonly<Record<string, (payload: string | null) => void>>;
  /** For "LISTEN failed" (once per outage) and "listening again". */
  log?: Logger;
  /** What to name in log lines (the redacted URL). */
  display: string;
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * One LISTEN connection for all of a broker's channels (its messages, its remote control).
 * Notifications only make waiting fetches and control listeners look sooner: they also poll,
 * so when LISTEN fails (the server refuses, the connection drops, or a pooler in transaction mode
 * is in between) nothing is lost but latency. A failure is never thrown to the caller: the
 * listener retries with a doubling delay and says so once per outage.
 */
export class NotifyListener {
  #client: Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #backoffMs = 0;
  #closed = false;
  #down = false;

  constructor(private readonly opts: NotifyListenerOptions) {}

  /** True while a LISTEN connection is up. */
  get listening(): boolean {
    return this.#client !== null;
  }

  /** The first attempt; resolves either way (a failure schedules a retry). */
  async start(): Promise<void> {
    await this.#attempt();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #attempt(): Promise<void> {
    let client: Client | null = null;
    try {
      client = await this.opts.connect();
      const c = client;
      c.on("notification", (n) => {
        if (Object.hasOwn(this.opts.channels, n.channel)) this.opts.channels[n.channel]!(n.payload ?? "");
      });
      c.on("error", (e) => this.#lost(c, e));
      c.on("end", () => this.#lost(c, new Error("the connection ended")));
      await c.query(
        Object.keys(this.opts.channels)
          .map((channel) => `LISTEN ${quoteIdent(channel)}`)
          .join("; "),
      );
      if (this.#closed) {
        await c.end().catch(() => undefined);
        return;
      }
      this.#client = c;
      this.#backoffMs = 0;
      if (this.#down) this.opts.log?.info(`Listening for notifications on ${this.opts.display} again`);
      this.#down = false;
      // Anything published while nobody listened is found by looking now.
      for (const onNotify of Object.values(this.opts.channels)) onNotify(null);
    } catch (e) {
      await client?.end().catch(() => undefined);
      this.#retry(e);
    }
  }

  #lost(client: Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = null;
    void client.end().catch(() => undefined);
    this.#retry(error);
  }

  #retry(error: unknown): void {
    if (this.#closed) return;
    const min = this.opts.minBackoffMs ?? 100;
    this.#backoffMs = Math.min(this.opts.maxBackoffMs ?? 30_000, this.#backoffMs === 0 ? min : this.#backoffMs * 2);
    if (!this.#down)
      this.opts.log?.warn(
        `LISTEN on ${this.opts.display} failed (${(error as Error).message ?? String(error)}); fetches and remote control poll until it is back, retrying in ${this.#backoffMs} ms and later`,
      );
    this.#down = true;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#attempt();
    }, this.#backoffMs);
    this.#timer.unref();
  }
}

/**
 * The NOTIFY channel of a schema for one use ("ebb_broker", "ebb_control"): an identifier of at
 * most 63 bytes, so a long non-ASCII schema name goes by its hash.
 */
export function channelOf(use: string, schema: string): string {
  const channel = `${use}.${schema}`;
  return Buffer.byteLength(channel) <= 63 ? channel : `${use}.${createHash("sha256").update(schema).digest("hex").slice(0, 32)}`;
}
