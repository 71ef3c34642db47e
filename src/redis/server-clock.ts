import type { Redis } from "ioredis";
import type { BackgroundReport } from "../store-health.js";

/** How often the offset to Redis's clock is measured again (drift, NTP steps on either side). */
const REFRESH_MS = 60_000;
const CLOCK_REFRESH = "server clock refresh";

/**
 * Redis's clock without a round trip per read: the offset between TIME and this process's clock
 * is measured at connect and again every minute. The broker scores unacked_index with it (so
 * every worker on this Redis agrees, however far its host's clock drifts; kombu uses each
 * worker's own time()) and the backend stamps date_done and counts expiresAt with it, as the
 * native TTLs do. Precision is about half a round trip; whole milliseconds keep the contract's
 * epoch-ms instants integers.
 */
export class ServerClock {
  #offsetMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #measuring = false;

  private constructor(private readonly client: Redis) {}

  /**
   * Measure once, then keep measuring in the background (the timer never keeps the process alive).
   * A failed refresh keeps the last offset and goes to `report` as "server clock refresh"; while one
   * waits (Redis down: commands wait for the reconnect), no other is started.
   */
  static async start(client: Redis, options: { refreshEveryMs?: number; report?: BackgroundReport } = {}): Promise<ServerClock> {
    const clock = new ServerClock(client);
    await clock.measure();
    clock.#timer = setInterval(() => void clock.refresh(options.report), options.refreshEveryMs ?? REFRESH_MS);
    clock.#timer.unref();
    return clock;
  }

  /** Epoch ms by Redis's clock. */
  readonly now = (): number => Date.now() + this.#offsetMs;

  stop(): void {
    clearInterval(this.#timer);
  }

  private async refresh(report: BackgroundReport | undefined): Promise<void> {
    if (this.#measuring) return;
    this.#measuring = true;
    try {
      await this.measure();
      report?.succeeded(CLOCK_REFRESH);
    } catch (e) {
      report?.failed(CLOCK_REFRESH, e);
    } finally {
      this.#measuring = false;
    }
  }

  private async measure(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await this.client.time();
    const after = Date.now();
    // The server read its clock somewhere in the round trip; the middle is the best guess.
    this.#offsetMs = Math.round(Number(seconds) * 1000 + Number(micros) / 1000 - (before + after) / 2);
  }
}
