import { describe, it, expect } from "vitest";
import { retryDelayMs, type RetryDelayInput } from "../../src/worker/retry-delay.js";

const base: RetryDelayInput = { retries: 0, countdownMs: null, baseMs: 1_000, backoff: false, maxMs: 60_000 };
const always = (v: number) => () => v;

describe("retryDelayMs", () => {
  it("an explicit countdown wins over everything", () => {
    expect(retryDelayMs({ ...base, countdownMs: 600_000 })).toBe(600_000);
    expect(retryDelayMs({ ...base, countdownMs: 7, backoff: true, retries: 10, random: always(0.5) })).toBe(7);
  });

  it("a countdown of 0 is kept (retry at once), not treated as unset", () => {
    expect(retryDelayMs({ ...base, countdownMs: 0, baseMs: 180_000 })).toBe(0);
  });

  it("without backoff the delay is the fixed base, whatever the retry number", () => {
    for (const retries of [0, 1, 5, 50]) expect(retryDelayMs({ ...base, retries, baseMs: 180_000 })).toBe(180_000);
  });

  it("without backoff random is not used", () => {
    let calls = 0;
    retryDelayMs({
      ...base,
      random: () => {
        calls++;
        return 0;
      },
    });
    expect(calls).toBe(0);
  });

  it("with backoff the delay doubles each retry (random = 1 gives the full delay)", () => {
    const delays = [0, 1, 2, 3, 4].map((retries) => retryDelayMs({ ...base, backoff: true, retries, random: always(1) }));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it("with backoff the delay is capped at maxMs", () => {
    expect(retryDelayMs({ ...base, backoff: true, retries: 6, random: always(1) })).toBe(60_000);
    expect(retryDelayMs({ ...base, backoff: true, retries: 100, random: always(1) })).toBe(60_000);
    expect(retryDelayMs({ ...base, backoff: true, retries: 5_000, random: always(1) })).toBe(60_000);
  });

  it("applies full jitter: random in [0, 1) scales the capped delay", () => {
    expect(retryDelayMs({ ...base, backoff: true, retries: 3, random: always(0) })).toBe(0);
    expect(retryDelayMs({ ...base, backoff: true, retries: 3, random: always(0.5) })).toBe(4_000);
    expect(retryDelayMs({ ...base, backoff: true, retries: 10, random: always(0.25) })).toBe(15_000);
  });

  it("rounds to whole milliseconds", () => {
    expect(retryDelayMs({ ...base, backoff: true, retries: 0, random: always(0.3333) })).toBe(333);
  });

  it("uses the injected random once per call", () => {
    const values = [0.1, 0.9];
    let i = 0;
    const random = () => values[i++]!;
    expect(retryDelayMs({ ...base, backoff: true, retries: 2, random })).toBe(400);
    expect(retryDelayMs({ ...base, backoff: true, retries: 2, random })).toBe(3_600);
    expect(i).toBe(2);
  });

  it("with the default random the delay stays within [0, capped]", () => {
    for (let n = 0; n < 50; n++) {
      const d = retryDelayMs({ ...base, backoff: true, retries: 3 });
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(8_000);
    }
  });
});
