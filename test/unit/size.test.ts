import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { formatBytes, parseSize } from "../../src/monitor/size.js";

describe("parseSize", () => {
  it("reads bytes, decimal and binary units, case-insensitively", () => {
    expect(parseSize("1000000", "--max-bytes")).toBe(1_000_000);
    expect(parseSize("500MB", "--max-bytes")).toBe(500_000_000);
    expect(parseSize("500 mb", "--max-bytes")).toBe(500_000_000);
    expect(parseSize("2GiB", "--max-bytes")).toBe(2 * 1024 ** 3);
    expect(parseSize("1.5KB", "--max-bytes")).toBe(1_500);
    expect(parseSize("1KiB", "--max-bytes")).toBe(1_024);
    expect(parseSize("3TB", "--max-bytes")).toBe(3e12);
    expect(parseSize("0", "--max-bytes")).toBe(0);
    expect(parseSize("12B", "--max-bytes")).toBe(12);
  });

  it("rejects nonsense with an error naming the option, the value and what is accepted", () => {
    for (const bad of ["", "lots", "5 XB", "MB", "1.5", "1e6", "5MB5"]) {
      expect(() => parseSize(bad, "--max-bytes")).toThrow(ConfigError);
      expect(() => parseSize(bad, "--max-bytes")).toThrow(
        /Expected --max-bytes to be a size such as "500MB", "2GiB" or a number of bytes, got/,
      );
    }
    expect(() => parseSize("-5MB", "--max-bytes")).toThrow(/cannot be negative/);
    expect(() => parseSize("5 XB", "--max-bytes")).toThrow(/the unit "XB" is not one of/);
    expect(() => parseSize("1.5", "--max-bytes")).toThrow(/must be whole/);
    expect(() => parseSize("99999999999TB", "--max-bytes")).toThrow(/too large/);
  });
});

describe("formatBytes", () => {
  it("uses decimal units, as parseSize reads them", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1_500)).toBe("1.5 KB");
    expect(formatBytes(123_456_789)).toBe("123 MB");
    expect(formatBytes(2e9)).toBe("2.0 GB");
  });
});
