import type { Census, CensusCell } from "./census.js";

/**
 * One history sample: a compact copy of a census (counts and bytes per tier and state), recorded
 * by beat on a schedule and kept in the store for a bounded time. The growth chart and the
 * forecast read these.
 */
export interface StorageSample {
  /** Store clock, epoch ms. */
  at: number;
  total: number;
  bytes: number;
  cells: CensusCell[];
  expiredPending: number;
  pendingBytes: number;
}

/** A census's sample: its counts and bytes per tier and state, and cleanup's backlog (a Census has every field a sample has). */
export function sampleOf(c: Census): StorageSample {
  return copySample(c);
}

/** A sample's own fields alone (a copy), so a store keeps exactly the sample and nothing the caller added. */
export function copySample(s: StorageSample): StorageSample {
  return {
    at: s.at,
    total: s.total,
    bytes: s.bytes,
    cells: s.cells.map((x) => ({ tier: x.tier, state: x.state, count: x.count, bytes: x.bytes })),
    expiredPending: s.expiredPending,
    pendingBytes: s.pendingBytes,
  };
}

/** The stored form of a sample: its JSON, fields in a fixed order. */
export function sampleJson(s: StorageSample): string {
  return JSON.stringify(copySample(s));
}

/**
 * A sample back from its stored form, or null when it is not one (corrupt JSON, missing numbers):
 * the stores leave such an entry out of samples(), so one bad entry never breaks a chart, and it
 * is trimmed with its slot like any other.
 */
export function parseSample(json: string): StorageSample | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const s = value as Partial<StorageSample> | null;
  const numbers = (o: object, keys: string[]) => keys.every((k) => Number.isFinite((o as Record<string, unknown>)[k]));
  if (typeof s !== "object" || s === null || !numbers(s, ["at", "total", "bytes", "expiredPending", "pendingBytes"])) return null;
  if (
    !Array.isArray(s.cells) ||
    !s.cells.every(
      (c) =>
        typeof c === "object" && c !== null && typeof c.tier === "string" && typeof c.state === "string" && numbers(c, ["count", "bytes"]),
    )
  )
    return null;
  return copySample(s as StorageSample);
}
