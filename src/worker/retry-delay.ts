/**
 * How long to wait before retry number `retries + 1`. Pure; `random` is injected for tests.
 * An explicit countdown wins. With backoff the delay doubles each retry, is capped at maxMs and
 * gets full jitter (random in [0, delay]) so a burst of failures does not retry in lockstep.
 */
export interface RetryDelayInput {
  retries: number;
  countdownMs: number | null;
  baseMs: number;
  backoff: boolean;
  maxMs: number;
  random?: () => number;
}

export function retryDelayMs(input: RetryDelayInput): number {
  if (input.countdownMs !== null) return input.countdownMs;
  if (!input.backoff) return input.baseMs;
  const capped = Math.min(input.maxMs, input.baseMs * 2 ** input.retries);
  return Math.round(capped * (input.random ?? Math.random)());
}
