import type { Redis } from "ioredis";
import { sleepUntil, type Watch } from "../../change-hub.js";
import type { Closing } from "../../closing.js";

export interface PubSubWatcherOptions {
  /** Opens the dedicated subscriber connection; called on the first watch (and again after it failed). */
  openSubscriber(): Promise<Redis>;
  /** Closed when the backend closes: every pending changed() resolves. */
  closing: Closing;
  /** While pub/sub is unavailable, changed() returns after at most this. Default 100. */
  pollMs?: number;
  /** After pub/sub failed, how long to poll before trying it again. Default 30000. */
  retryPubSubMs?: number;
}

interface Channel {
  listeners: Set<() => void>;
  /** Settles when the server has confirmed SUBSCRIBE (true) or it failed (false). */
  live: Promise<boolean>;
}

/**
 * watch() for Redis: one subscriber connection per backend, shared by every watch, and one
 * SUBSCRIBE per channel however many watch it (reference-counted: UNSUBSCRIBE when the last watch
 * on it closes). watch() resolves once the server has confirmed the SUBSCRIBE, so a result stored
 * after that is published to us: "watch, look, wait" cannot miss it, the way Celery's get()
 * subscribes before it reads.
 *
 * If pub/sub cannot be had (the connection fails, or an ACL forbids SUBSCRIBE), a watch polls:
 * changed() returns every 100 ms and the caller looks again. Pub/sub is tried again later.
 */
export class PubSubWatcher {
  private subscriber: Promise<Redis> | undefined;
  private readonly channels = new Map<string, Channel>();
  private pollUntil = -Infinity;
  private readonly pollMs: number;
  private readonly retryPubSubMs: number;

  constructor(private readonly opts: PubSubWatcherOptions) {
    this.pollMs = opts.pollMs ?? 100;
    this.retryPubSubMs = opts.retryPubSubMs ?? 30_000;
  }

  async watch(name: string): Promise<Watch> {
    if (this.opts.closing.closed || performance.now() < this.pollUntil) return this.pollingWatch();
    let dirty = false;
    let wake: (() => void) | null = null;
    const listener = (): void => {
      if (wake) wake();
      else dirty = true;
    };
    const channel = this.join(name, listener);
    if (!(await channel.live)) {
      this.leave(name, channel, listener);
      return this.pollingWatch();
    }
    return {
      changed: (ms, signal) => {
        if (dirty || signal?.aborted || this.opts.closing.closed) {
          dirty = false;
          return Promise.resolve();
        }
        return this.opts.closing.during(signal, (s) => sleepUntil(ms, s, (w) => (wake = w))).finally(() => (wake = null));
      },
      close: () => this.leave(name, channel, listener),
    };
  }

  /** Closes the subscriber connection; pending changed() calls end through `closing`. */
  async close(): Promise<void> {
    this.channels.clear();
    const subscriber = await this.subscriber?.catch(() => undefined);
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }

  private pollingWatch(): Watch {
    return {
      changed: (ms, signal) =>
        signal?.aborted || this.opts.closing.closed
          ? Promise.resolve()
          : this.opts.closing.during(signal, (s) => sleepUntil(Math.min(ms, this.pollMs), s)),
      close: () => undefined,
    };
  }

  private join(name: string, listener: () => void): Channel {
    const existing = this.channels.get(name);
    if (existing) {
      existing.listeners.add(listener);
      return existing;
    }
    const live = this.connection()
      .then((sub) => sub.subscribe(name))
      .then(
        () => true,
        () => {
          this.fallBackToPolling(name);
          return false;
        },
      );
    const channel: Channel = { listeners: new Set([listener]), live };
    this.channels.set(name, channel);
    return channel;
  }

  private leave(name: string, channel: Channel, listener: () => void): void {
    channel.listeners.delete(listener);
    if (channel.listeners.size > 0 || this.channels.get(name) !== channel) return;
    this.channels.delete(name);
    // Only after SUBSCRIBE settled: a later SUBSCRIBE for this name is then sent after this
    // UNSUBSCRIBE on the same connection, so it wins.
    void channel.live
      .then((ok) => (ok && !this.opts.closing.closed ? this.subscriber?.then((sub) => sub.unsubscribe(name)) : undefined))
      .catch(() => undefined);
  }

  private connection(): Promise<Redis> {
    this.subscriber ??= this.opts.openSubscriber().then((sub) => {
      let connected = sub.status === "ready";
      sub.on("message", (name: string) => this.notify(name));
      // ioredis subscribes again by itself after a reconnect, but what was published meanwhile is
      // lost: tell every watch to look again.
      sub.on("ready", () => {
        if (connected) for (const name of this.channels.keys()) this.notify(name);
        connected = true;
      });
      return sub;
    });
    return this.subscriber;
  }

  private notify(name: string): void {
    const channel = this.channels.get(name);
    if (channel) for (const listener of [...channel.listeners]) listener();
  }

  private fallBackToPolling(name: string): void {
    this.pollUntil = performance.now() + this.retryPubSubMs;
    this.channels.delete(name);
    // A connection that failed is opened afresh on the next try; one that only refused SUBSCRIBE is kept.
    const failed = this.subscriber;
    void failed?.catch(() => {
      if (this.subscriber === failed) this.subscriber = undefined;
    });
  }
}
