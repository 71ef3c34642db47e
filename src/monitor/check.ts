import type { StatsReport } from "./stats.js";

export interface CheckLimits {
  maxResults?: number;
  maxBytes?: number;
}

export type LimitName = "maxResults" | "maxBytes";

export interface LimitBreach {
  limit: LimitName;
  value: number;
  max: number;
  /** value - max: how far over. */
  by: number;
}

/** What `ebb check --json` prints. */
export interface CheckReport {
  ok: boolean;
  total: number;
  bytes: number;
  /** The limits checked; null = not given. */
  limits: { maxResults: number | null; maxBytes: number | null };
  over: LimitBreach[];
}

/** A growth alert: over a limit means strictly more than it; exactly at the limit is ok. Pure. */
export function check(report: Pick<StatsReport, "total" | "bytes">, limits: CheckLimits): CheckReport {
  const over: LimitBreach[] = [];
  const test = (limit: LimitName, value: number, max: number | undefined) => {
    if (max !== undefined && value > max) over.push({ limit, value, max, by: value - max });
  };
  test("maxResults", report.total, limits.maxResults);
  test("maxBytes", report.bytes, limits.maxBytes);
  return {
    ok: over.length === 0,
    total: report.total,
    bytes: report.bytes,
    limits: { maxResults: limits.maxResults ?? null, maxBytes: limits.maxBytes ?? null },
    over,
  };
}
