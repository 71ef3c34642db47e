import { systemClock, type Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { localUtcOffset, type CeleryEvent, type EventType } from "./celery-event.js";
import { LamportClock } from "./lamport-clock.js";

/** Hands a finished event to a transport (a broker's publishEvent, or a test's array). */
export type PublishEvent = (event: CeleryEvent) => Promise<void>;

export interface EventDispatcherOptions {
  /** The sender's node name, in every event. */
  hostname: string;
  publish: PublishEvent;
  log: Logger;
  /** Where `timestamp` comes from (epoch ms). Default: this process's clock, as Celery's time.time(). */
  clock?: Clock;
  /** Default: a clock of its own, starting at 0. */
  lamport?: LamportClock;
  /** Default: process.pid. */
  pid?: number;
  /** Hours west of UTC. Default: this machine's, as Python computes it. */
  utcoffset?: () => number;
  /** Where the events go, for log lines ("redis://host:6379/0"). */
  target?: string;
}

/**
 * Builds Celery events (celery/events/dispatcher.py: EventDispatcher.publish) and hands them to
 * the transport. Events are monitoring, not data: send() never throws or rejects. A transport
 * failure is logged once until sending works again (then that is logged too), and the events
 * in between are dropped, as Celery drops them once its own buffer is gone.
 */
export class EventDispatcher {
  readonly hostname: string;
  readonly lamport: LamportClock;
  readonly #publish: PublishEvent;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #pid: number;
  readonly #utcoffset: () => number;
  readonly #target: string;
  #dropped = 0;

  constructor(opts: EventDispatcherOptions) {
    this.hostname = opts.hostname;
    this.#publish = opts.publish;
    this.#log = opts.log;
    this.#clock = opts.clock ?? systemClock;
    this.lamport = opts.lamport ?? new LamportClock();
    this.#pid = opts.pid ?? process.pid;
    this.#utcoffset = opts.utcoffset ?? (() => localUtcOffset());
    this.#target = opts.target ?? "the broker";
  }

  /** Events that could not be sent since the last one that could (0 when sending works). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Build one event of `type` with `fields` and send it; resolves once the transport has it (or has failed). */
  async send(type: EventType, fields: Record<string, unknown> = {}): Promise<void> {
    const event = this.event(type, fields);
    try {
      await this.#publish(event);
      if (this.#dropped > 0) {
        this.#log.info(`Sending Celery events to ${this.#target} again (${this.#dropped} dropped meanwhile)`);
        this.#dropped = 0;
      }
    } catch (e) {
      if (this.#dropped === 0)
        this.#log.warn(
          `Could not send the Celery event ${type} to ${this.#target}: ${(e as Error).message}; events are dropped until sending works again`,
        );
      this.#dropped += 1;
    }
  }

  /** The event as Celery's Event() builds it, in its key order: envelope, fields, timestamp, type. */
  event(type: EventType, fields: Record<string, unknown> = {}): CeleryEvent {
    return {
      hostname: this.hostname,
      utcoffset: this.#utcoffset(),
      pid: this.#pid,
      clock: this.lamport.forward(),
      ...fields,
      timestamp: this.#clock() / 1000,
      type,
    } as CeleryEvent;
  }
}
