import { describe, expect, it } from "vitest";
import { emptyCensus } from "../../src/monitor/census.js";
import { parseSample, sampleJson, sampleOf } from "../../src/monitor/history.js";

describe("history samples", () => {
  it("keep a census's counts per tier and state and its backlog, and nothing else, through their stored form", () => {
    const c = { ...emptyCensus(1_000), total: 3, bytes: 90, expiredPending: 1, pendingBytes: 30, tookMs: 12 };
    c.cells = [{ tier: "api", state: "SUCCESS", count: 3, bytes: 90 }];
    const sample = sampleOf(c);
    expect(Object.keys(sample).sort()).toEqual(["at", "bytes", "cells", "expiredPending", "pendingBytes", "total"]);
    expect(parseSample(sampleJson(sample))).toEqual(sample);
  });

  it("a corrupt stored sample reads as null (the stores leave it out) rather than throwing or reading as zeros", () => {
    const good = JSON.parse(sampleJson(sampleOf(emptyCensus(5)))) as Record<string, unknown>;
    for (const bad of [
      "{not json",
      "null",
      "[]",
      JSON.stringify({ ...good, at: "yesterday" }),
      JSON.stringify({ ...good, total: undefined }),
      JSON.stringify({ ...good, cells: "api" }),
      JSON.stringify({ ...good, cells: [{ tier: "api", state: "SUCCESS", count: "3", bytes: 1 }] }),
    ])
      expect(parseSample(bad), bad).toBeNull();
    expect(parseSample(JSON.stringify(good))).not.toBeNull();
  });
});
