/**
 * Test runs reserve the ports of their own servers in a shared folder: a live run's reservation
 * is respected and never removed by another run, and a killed run's is taken over.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { releasePort, reservePort } from "../support/free-port.js";

// Below the range freePort() picks from (61000-64999), so no real server's reservation is touched.
const port = 60_000 + Math.floor(Math.random() * 1_000);
const file = join(tmpdir(), "ebb-test-ports", String(port));
afterEach(() => rmSync(file, { force: true }));

describe("port reservations", () => {
  it("a port is reserved once, by pid, and released by its owner", () => {
    expect(reservePort(port)).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(String(process.pid));
    expect(reservePort(port)).toBe(false); // held by a live run (this one)
    releasePort(port);
    expect(reservePort(port)).toBe(true);
  });

  it("another live run's reservation is neither taken nor released; a dead run's is taken over", () => {
    reservePort(port);
    writeFileSync(file, "1"); // pid 1 is always alive
    expect(reservePort(port)).toBe(false);
    releasePort(port);
    expect(readFileSync(file, "utf8")).toBe("1");

    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(file, dead);
    expect(reservePort(port)).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(String(process.pid));
  });
});
