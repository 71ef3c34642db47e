import { describe, it, expect } from "vitest";
import { ProtocolError } from "../../src/errors.js";
import { parseCeleryTime, toCeleryAware, toCeleryNaive } from "../../src/protocol/timestamps.js";
import { inTimeZone } from "../support/time-zone.js";

const at = (ms: number) => Date.UTC(2026, 10, 24, 2, 12, 52) + ms;

describe("toCeleryNaive / toCeleryAware", () => {
  it("writes naive UTC with 6 fractional digits, as Celery's date_done", () => {
    expect(toCeleryNaive(at(549))).toBe("2026-11-24T02:12:52.549000");
    expect(toCeleryNaive(at(0))).toBe("2026-11-24T02:12:52.000000");
    expect(toCeleryNaive(at(7))).toBe("2026-11-24T02:12:52.007000");
  });

  it("writes aware UTC with +00:00, as Celery's eta/expires headers", () => {
    expect(toCeleryAware(at(549))).toBe("2026-11-24T02:12:52.549000+00:00");
  });

  it("writes UTC whatever the process time zone is", () => {
    expect(inTimeZone("Asia/Tokyo", () => toCeleryNaive(Date.UTC(2030, 0, 2, 3, 4, 5)))).toBe("2030-01-02T03:04:05.000000");
  });
});

describe("parseCeleryTime", () => {
  it('reads ".549Z" as 549 milliseconds, not microseconds', () => {
    expect(parseCeleryTime("2026-11-24T02:12:52.549Z", "f")).toBe(at(549));
  });

  it("reads Celery's 6-digit fractions", () => {
    expect(parseCeleryTime("2026-11-24T02:12:52.549000Z", "f")).toBe(at(549));
    // 549118 µs is 549.118 ms; Ebb keeps the microseconds as the fraction.
    expect(parseCeleryTime("2026-11-24T02:12:52.549118", "f")).toBeCloseTo(at(549.118), 6);
  });

  it("reads a one-digit fraction as tenths of a second", () => {
    expect(parseCeleryTime("2026-11-24T02:12:52.5+00:00", "f")).toBe(at(500));
  });

  it("reads a value without a fraction", () => {
    expect(parseCeleryTime("2026-11-24T02:12:52Z", "f")).toBe(at(0));
  });

  it("reads naive values as UTC, even when the process time zone is not UTC", () => {
    expect(parseCeleryTime("2030-01-02T03:04:05", "f")).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    expect(inTimeZone("America/New_York", () => parseCeleryTime("2030-01-02T03:04:05", "f"))).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  it('reads "+00:00" as UTC', () => {
    expect(parseCeleryTime("2026-11-24T02:12:52.549118+00:00", "f")).toBeCloseTo(at(549.118), 6);
  });

  it("applies other offsets", () => {
    expect(parseCeleryTime("2026-11-24T04:12:52.549+02:00", "f")).toBe(at(549));
    expect(parseCeleryTime("2026-11-23T20:42:52.549-05:30", "f")).toBe(at(549));
    expect(parseCeleryTime("2026-11-24T07:42:52+0530", "f")).toBe(at(0));
  });

  it("accepts a space between date and time (Python's str(datetime))", () => {
    expect(parseCeleryTime("2026-11-24 02:12:52.549", "f")).toBe(at(549));
  });

  it("round-trips what toCeleryNaive and toCeleryAware write", () => {
    for (const ms of [0, at(1), at(999), Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2030, 5, 15, 12, 0, 0, 123)]) {
      expect(parseCeleryTime(toCeleryNaive(ms), "f")).toBe(ms);
      expect(parseCeleryTime(toCeleryAware(ms), "f")).toBe(ms);
    }
  });

  it.each(["", "yesterday", "2026-11-24", "2026/11/24 02:12:52", "1795485880549", "2026-11-24T02:12:52+5"])(
    "rejects %j with a ProtocolError naming the field and the value",
    (value) => {
      expect(() => parseCeleryTime(value, "headers.eta")).toThrow(ProtocolError);
      expect(() => parseCeleryTime(value, "headers.eta")).toThrow(/headers\.eta/);
      expect(() => parseCeleryTime(value, "headers.eta")).toThrow(JSON.stringify(value));
    },
  );

  it.each(["2026-02-30T00:00:00", "2026-11-24T25:00:00", "2026-11-24T02:61:00", "2026-13-01T00:00:00"])(
    "rejects the out-of-range date %j instead of rolling it over",
    (value) => {
      expect(() => parseCeleryTime(value, "date_done")).toThrow(ProtocolError);
    },
  );
});

describe("microseconds survive a round trip", () => {
  it.each(["2026-11-24T02:04:40.124625", "2026-11-24T02:04:40.000001", "2026-11-24T02:04:40.999999", "2026-11-24T02:04:40.000000"])(
    "%s",
    (text) => {
      expect(toCeleryNaive(parseCeleryTime(text, "f"))).toBe(text);
    },
  );
});
