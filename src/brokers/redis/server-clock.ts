import type { Redis } from "ioredis";

/**
 * Redis's clock without a round trip per read: the offset from this process's clock is measured
 * with TIME at connect and refreshed on an interval, so scores Ebb writes to unacked_index agree
 * with the other workers on this Redis however far this host's clock drifts. (kombu uses each
 * worker's own time(); a skewed host there restores too early or too late.)
 */
export class ServerClock {
  #offsetMs = 0;
  #timer: NodeJS.Timeout | null = null;

  private constructor(private readonly client: Redis) {}

  static async start(client: Redis, refreshEveryMs = 60_000): Promise<ServerClock> {
    const clock = new ServerClock(client);
    await clock.refresh();
    clock.#timer = setInterval(() => void clock.refresh().catch(() => undefined), refreshEveryMs);
    clock.#timer.unref();
    return clock;
  }

  /** Epoch ms by Redis's clock (fractional). */
  readonly now = (): number => Date.now() + this.#offsetMs;

  async refresh(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = (await this.client.time()) as unknown as [string | number, string | number];
    const after = Date.now();
    // The server read its clock somewhere in the round trip; the middle is the best guess.
    this.#offsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - (before + after) / 2;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
