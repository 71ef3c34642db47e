import { randomUUID } from "node:crypto";
import { ChangeHub } from "../../change-hub.js";
import { systemClock, type Clock } from "../../clock.js";
import { ConfigError } from "../../errors.js";
import { redactUrl } from "../../url.js";
import { copyTransportMessage, serializeTransportMessage, type TransportMessage } from "../../protocol/transport-message.js";
import {
  deadLetterCursor,
  deadLetterLimit,
  type Broker,
  type BrokerCapabilities,
  type DeadLetter,
  type DeadLetterPage,
  type DeadLetterQuery,
  type Delivery,
  type EventRouting,
  type FetchOptions,
  type PublishOptions,
  type Outgoing,
} from "../broker.js";
import { MemoryControl } from "./memory-control.js";

export interface MemoryBrokerOptions {
  /** memory://NAME; `?delayed=false` makes a broker without delayed delivery (like Redis), for tests of the worker-held path. */
  url?: string;
  clock?: Clock;
  /** Whether availableAt is honoured. Default: true, unless the URL says delayed=false. */
  delayedDelivery?: boolean;
}

interface Message {
  readonly seq: number;
  readonly message: TransportMessage;
  readonly queue: string;
  readonly priority: number;
  availableAt: number;
  leaseUntil: number | null;
  leaseToken: string | null;
  deliveredCount: number;
}

/**
 * An in-process broker for tests and single-process apps, with the same lease semantics as
 * the stored brokers: a fetched message is invisible until its lease ends, then handed out
 * again with redelivered=true. Every time decision reads the injected clock, so tests move
 * time with manualClock().advance() instead of sleeping.
 */
export class MemoryBroker implements Broker {
  readonly capabilities: BrokerCapabilities;
  readonly url: string;
  /** Remote control between the app and the workers of this process. */
  readonly control = new MemoryControl();
  private readonly clock: Clock;
  /** Per queue, in publish order (Map keeps insertion order). */
  private readonly queues = new Map<string, Map<number, Message>>();
  /** Oldest first; `seq` is the page cursor. */
  private readonly dead: Array<DeadLetter & { seq: number }> = [];
  /** Pending fetch() waits; each re-checks the queues when woken. */
  private readonly hub = new ChangeHub();
  private nextSeq = 1;
  /** publishOnce keys → the instant they lapse. */
  private readonly onceKeys = new Map<string, number>();
  /** Bumped by close(); a fetch that started before it returns [] instead of waiting on. */
  private closings = 0;
  /** Who hears publishEvent(), in-process (a monitor, a test). */
  private readonly eventListeners = new Set<EventListener>();

  constructor(opts: MemoryBrokerOptions = {}) {
    this.url = redactUrl(opts.url ?? "memory://");
    this.clock = opts.clock ?? systemClock;
    const delayedDelivery = opts.delayedDelivery ?? delayedFromUrl(opts.url);
    this.capabilities = {
      delayedDelivery,
      priorityOrder: "lowest-first",
      clock: "local",
      delivery: "lease",
      dedupedPublish: true,
      events: true,
    };
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async publish(transport: TransportMessage, options: PublishOptions): Promise<void> {
    const seq = this.nextSeq++;
    const message: Message = {
      seq,
      message: copyTransportMessage(transport),
      queue: options.queue,
      priority: options.priority,
      availableAt: this.availableAt(options.availableAt),
      leaseUntil: null,
      leaseToken: null,
      deliveredCount: 0,
    };
    this.queue(options.queue).set(seq, message);
    this.wakeAll();
  }

  async publishMany(batch: readonly Outgoing[]): Promise<void> {
    for (const { message, options } of batch) await this.publish(message, options);
  }

  async publishOnce(key: string, message: TransportMessage, options: PublishOptions, keyTtlMs: number): Promise<boolean> {
    const now = this.clock();
    const until = this.onceKeys.get(key);
    if (until !== undefined && until > now) return false;
    for (const [k, at] of this.onceKeys) if (at <= now) this.onceKeys.delete(k);
    this.onceKeys.set(key, now + keyTtlMs);
    await this.publish(message, options);
    return true;
  }

  /** Hands the event to every listener now; with none, it is dropped (as Redis pub/sub drops it). */
  async publishEvent(message: TransportMessage, routing: EventRouting): Promise<void> {
    for (const listener of this.eventListeners) listener(copyTransportMessage(message), { ...routing });
  }

  /** Hear every event published from now on; returns a function that stops listening. */
  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  async fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]> {
    const deadline = performance.now() + options.waitMs;
    const closings = this.closings;
    for (;;) {
      if (options.signal?.aborted || this.closings !== closings || max < 1) return [];
      const got = this.take(queues, max, options.visibilityTimeoutMs);
      const remaining = deadline - performance.now();
      if (got.length > 0 || remaining <= 0) return got;
      // Sleep until woken by publish/release/close, or until the next message in these queues
      // becomes visible by the clock, whichever is first.
      const next = this.nextVisibleAt(queues);
      await this.sleep(next === null ? remaining : Math.min(remaining, Math.max(1, next - this.clock())), options.signal);
    }
  }

  async ack(delivery: Delivery): Promise<void> {
    const m = this.leased(delivery);
    if (m) this.queue(m.queue).delete(m.seq);
  }

  async extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void> {
    const leaseUntil = this.clock() + visibilityTimeoutMs;
    for (const d of deliveries) {
      const m = this.leased(d);
      if (m) m.leaseUntil = leaseUntil;
    }
  }

  async release(delivery: Delivery, availableAt: number | null): Promise<void> {
    const m = this.leased(delivery);
    if (!m) return;
    m.availableAt = this.availableAt(availableAt);
    m.leaseUntil = null;
    m.leaseToken = null;
    this.wakeAll();
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    const m = this.leased(delivery);
    if (!m) return;
    this.queue(m.queue).delete(m.seq);
    // Its bytes are the stored form other text stores use: the memory broker has no wire format.
    const raw = Buffer.from(serializeTransportMessage(m.message), "utf8");
    this.dead.push({ seq: this.dead.length + 1, raw, message: copyTransportMessage(m.message), queue: m.queue, reason, at: this.clock() });
  }

  /** Cursor: the seq of the last item of the previous page (seq counts from the oldest, 1-based). */
  async deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage> {
    const limit = deadLetterLimit(query);
    const before = deadLetterCursor(query) ?? this.dead.length + 1;
    const page = this.dead.slice(Math.max(0, before - 1 - limit), Math.max(0, before - 1)).reverse();
    const last = page.at(-1);
    return { items: page.map(({ seq: _seq, ...d }) => d), next: last && last.seq > 1 ? String(last.seq) : null };
  }

  /**
   * Ends pending fetch() waits. The queues stay usable: brokerFromUrl() shares one instance
   * per memory:// URL between an app and its in-process worker, and one closing must not
   * break the other.
   */
  async close(): Promise<void> {
    this.closings += 1;
    this.wakeAll();
  }

  private take(queues: readonly string[], max: number, visibilityTimeoutMs: number): Delivery[] {
    const now = this.clock();
    const out: Delivery[] = [];
    for (const name of queues) {
      if (out.length >= max) break;
      const visible = [...this.queue(name).values()].filter((m) => isVisible(m, now));
      visible.sort((a, b) => a.priority - b.priority || a.availableAt - b.availableAt || a.seq - b.seq);
      for (const m of visible.slice(0, max - out.length)) {
        const token = randomUUID();
        out.push({ tag: `${m.seq}:${token}`, message: copyTransportMessage(m.message), queue: m.queue, redelivered: m.deliveredCount > 0 });
        m.deliveredCount += 1;
        m.leaseToken = token;
        m.leaseUntil = now + visibilityTimeoutMs;
      }
    }
    return out;
  }

  /** When a message given `availableAt` becomes visible: then, or now without delayed delivery. */
  private availableAt(availableAt: number | null): number {
    return availableAt !== null && this.capabilities.delayedDelivery ? availableAt : this.clock();
  }

  /** The earliest instant (clock ms) a message in these queues becomes visible, or null if none is pending. */
  private nextVisibleAt(queues: readonly string[]): number | null {
    let next: number | null = null;
    for (const name of queues) {
      for (const m of this.queue(name).values()) {
        const at = Math.max(m.availableAt, m.leaseUntil ?? -Infinity);
        if (next === null || at < next) next = at;
      }
    }
    return next;
  }

  /** The message a delivery refers to, only while the delivery's lease is still the current one. */
  private leased(delivery: Delivery): Message | undefined {
    const colon = delivery.tag.indexOf(":");
    const m = this.queue(delivery.queue).get(Number(delivery.tag.slice(0, colon)));
    return m && m.leaseToken !== null && m.leaseToken === delivery.tag.slice(colon + 1) ? m : undefined;
  }

  private queue(name: string): Map<number, Message> {
    let q = this.queues.get(name);
    if (!q) {
      q = new Map();
      this.queues.set(name, q);
    }
    return q;
  }

  private wakeAll(): void {
    this.hub.notify(TOPIC);
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return this.hub.wait(TOPIC, ms, [signal]);
  }
}

export type EventListener = (message: TransportMessage, routing: EventRouting) => void;

/** The one wake-up topic: "a message may have become visible". */
const TOPIC = "visible";

function delayedFromUrl(url: string | undefined): boolean {
  const query = url?.split("?")[1];
  if (query === undefined) return true;
  const value = new URLSearchParams(query).get("delayed");
  if (value === null || value === "true") return true;
  if (value === "false") return false;
  throw new ConfigError(`Expected ?delayed=true or ?delayed=false in the memory broker URL, got delayed=${JSON.stringify(value)}`);
}

function isVisible(m: Message, now: number): boolean {
  return m.availableAt <= now && (m.leaseUntil === null || m.leaseUntil <= now);
}
