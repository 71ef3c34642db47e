import type { Redis } from "ioredis";

/** How often the offset to Redis's clock is measured again (drift, NTP steps on either side). */
const REFRESH_MS = 60_000;

/**
 * Redis's clock, read without a round trip: the offset between TIME and this process's clock is
 * measured at connect and again every minute, so stores stamp date_done (and count expiresAt) in
 * the store's time, as the native TTLs do, while paying nothing per store. Precision is about half
 * a round trip, far below any lifetime or grace window.
 */
export class ServerClock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: Redis) {}

  /** Measure once, then keep measuring in the background (the timer never keeps the process alive). */
  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => void this.measure().catch(() => undefined), REFRESH_MS);
    this.timer.unref();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async measure(): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await this.client.time();
    const after = Date.now();
    // The server read its clock somewhere in the round trip; the middle is the best guess. Whole ms
    // keep date_done and expiresAt integers, as the contract's epoch ms are.
    this.offsetMs = Math.round(Number(seconds) * 1000 + Number(micros) / 1000 - (before + after) / 2);
  }
}
