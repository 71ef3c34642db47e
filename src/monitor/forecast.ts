import type { StorageSample } from "./history.js";

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** The forecast reads the samples of the last this many days. */
export const FORECAST_BASIS_DAYS = 7;
/** Less than this span of samples, or fewer samples than MIN_SAMPLES, forecasts nothing. */
const MIN_SPAN_MS = HOUR;
const MIN_SAMPLES = 3;
/** From this many whole days of samples on, the slope is fitted through the daily peaks. */
const PEAK_FIT_DAYS = 3;
/** A sample stands for "the same time of day" k days ago when it is this close to it. */
const PHASE_TOLERANCE_MS = HOUR;

export interface Forecast {
  /** How the slope was fitted: "daily-peaks", "least-squares", or "none" (too little data). */
  method: string;
  /** Growth, bytes per day (negative: shrinking); 0 when there is too little data. */
  slopeBytesPerDay: number;
  /** Bytes expected 7 and 30 days after `now`; null when there is too little data. */
  bytesIn7d: number | null;
  bytesIn30d: number | null;
  /** Days until the store's daily peak reaches the budget: 0 when it already has; null without a budget, without growth, or without data. */
  daysToBudget: number | null;
  /** The span of the samples the forecast read, days. */
  basisDays: number;
  /** How many samples it read. */
  samples: number;
}

export interface ForecastOptions {
  /** The storage budget, bytes; null or absent: no daysToBudget. */
  budgetBytes?: number | null;
  /** The instant to forecast from (store clock, epoch ms); samples after it are ignored. */
  now: number;
}

/**
 * Where the store's bytes are heading, from beat's history samples of the last 7 days.
 *
 * A store under steady load with a daily cleanup draws a saw-tooth: it climbs all day as results
 * expire but stay, and drops when cleanup removes them. A straight line through the whole
 * saw-tooth is pulled by its phase (by about the tooth's height over days² of basis), and its
 * value at a given instant says where the middle of the tooth is, not where the store will be at
 * that time of day. So, with n whole days of samples:
 *
 *  - slope: with 3 or more whole days, the least-squares line through the daily peaks (the largest
 *    sample of each 24 h window ending at the newest sample), which sit at the same phase of the
 *    tooth every day and so rise exactly as the store's trend does; with less, the least-squares
 *    line through every sample (no daily cycle can be told apart from the trend yet).
 *  - level now: with a whole day or more, the mean, over each past day k, of the sample nearest
 *    to now − k days (within an hour), each carried to now along the slope: the store's size at
 *    this time of day, with the noise of single samples averaged out. With less than a day, the
 *    least-squares line's value at now.
 *  - bytesIn7d / bytesIn30d: the level now plus 7 or 30 days of slope. Whole days ahead, so the
 *    forecast is for the same phase of the daily cycle as now, which is what the level measures.
 *  - daysToBudget: from the highest sample of the last 24 h (carried to now), the time the slope
 *    takes to reach the budget: the store first hits a budget at its daily peak.
 *
 * Nothing is forecast from fewer than 3 samples or less than an hour of them.
 */
export function forecast(samples: readonly StorageSample[], options: ForecastOptions): Forecast {
  const { now } = options;
  const basis = samples.filter((s) => s.at <= now && s.at >= now - FORECAST_BASIS_DAYS * DAY).sort((a, b) => a.at - b.at);
  const spanMs = basis.length === 0 ? 0 : basis.at(-1)!.at - basis[0]!.at;
  const out: Forecast = {
    method: "none",
    slopeBytesPerDay: 0,
    bytesIn7d: null,
    bytesIn30d: null,
    daysToBudget: null,
    basisDays: spanMs / DAY,
    samples: basis.length,
  };
  if (basis.length < MIN_SAMPLES || spanMs < MIN_SPAN_MS) return out;

  const all = leastSquares(basis.map((s) => [s.at, s.bytes]));
  const peaks = spanMs >= PEAK_FIT_DAYS * DAY ? dailyPeaks(basis) : [];
  const line = peaks.length >= PEAK_FIT_DAYS ? leastSquares(peaks.map((s) => [s.at, s.bytes])) : all;
  out.method = line === all ? "least-squares" : "daily-peaks";
  const perMs = line.slope;
  out.slopeBytesPerDay = perMs * DAY;

  const level = spanMs >= DAY ? samePhaseLevel(basis, now, perMs) : all.at(now);
  out.bytesIn7d = Math.max(0, level + out.slopeBytesPerDay * 7);
  out.bytesIn30d = Math.max(0, level + out.slopeBytesPerDay * 30);

  const budget = options.budgetBytes ?? null;
  if (budget !== null && out.slopeBytesPerDay > 0) {
    const peakNow = Math.max(...basis.filter((s) => s.at > now - DAY).map((s) => s.bytes + perMs * (now - s.at)), level);
    out.daysToBudget = peakNow >= budget ? 0 : (budget - peakNow) / out.slopeBytesPerDay;
  }
  return out;
}

/** Growth in bytes per day over these samples (as forecast() fits it, from the newest sample), or null with too little data. */
export function growthPerDay(samples: readonly StorageSample[]): number | null {
  const newest = samples.reduce((m, s) => Math.max(m, s.at), Number.NEGATIVE_INFINITY);
  if (!Number.isFinite(newest)) return null;
  const f = forecast(samples, { now: newest });
  return f.method === "none" ? null : f.slopeBytesPerDay;
}

interface Line {
  slope: number;
  at(x: number): number;
}

/** The least-squares line through (x, y) points (x centred, so epoch ms lose no precision). */
function leastSquares(points: ReadonlyArray<readonly [number, number]>): Line {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, at: (x) => my + slope * (x - mx) };
}

/** The largest sample of each whole 24 h window ending at the newest sample, oldest first. */
function dailyPeaks(basis: readonly StorageSample[]): StorageSample[] {
  const end = basis.at(-1)!.at;
  const days = Math.floor((end - basis[0]!.at) / DAY);
  const peaks: Array<StorageSample | undefined> = new Array(days).fill(undefined);
  for (const s of basis) {
    // Window k holds (end − (k+1) days, end − k days]; the part before the oldest whole window is left out.
    const k = Math.floor((end - s.at) / DAY);
    if (k >= days) continue;
    const peak = peaks[k];
    if (peak === undefined || s.bytes > peak.bytes) peaks[k] = s;
  }
  return peaks.filter((p): p is StorageSample => p !== undefined).reverse();
}

/** The store's size now at this time of day: the mean of the samples nearest to now − k days, each carried to now along the slope. */
function samePhaseLevel(basis: readonly StorageSample[], now: number, perMs: number): number {
  const values: number[] = [];
  for (let k = 0; now - k * DAY >= basis[0]!.at - PHASE_TOLERANCE_MS; k++) {
    const target = now - k * DAY;
    const near = nearest(basis, target);
    if (near && Math.abs(near.at - target) <= PHASE_TOLERANCE_MS) values.push(near.bytes + perMs * (now - near.at));
  }
  if (values.length === 0) {
    const last = basis.at(-1)!;
    return last.bytes + perMs * (now - last.at);
  }
  return values.reduce((a, v) => a + v, 0) / values.length;
}

/** The sample whose at is closest to `target` (basis is sorted by at). */
function nearest(basis: readonly StorageSample[], target: number): StorageSample | undefined {
  let lo = 0;
  let hi = basis.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (basis[mid]!.at < target) lo = mid + 1;
    else hi = mid;
  }
  const after = basis[lo];
  const before = basis[lo - 1];
  if (!before) return after;
  if (!after) return before;
  return target - before.at <= after.at - target ? before : after;
}
