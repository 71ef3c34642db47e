/**
 * Ports taken by test runs on this machine, one file each, named by the port and holding the
 * owner's pid. A server's port stays reserved while it is stopped for a restart test, so another
 * run started at the same time cannot take it in between (seen: a restart failing with "Address
 * already in use" while a second `npm test` ran). Released by the server's destroy() or when the
 * process exits, and taken over when the run that reserved it is gone. Shared by the servers tests start of their own (redis-server.ts, the PostgreSQL
 * cluster of test/postgres-e2e).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PORTS_DIR = join(tmpdir(), "ebb-test-ports");

export function reservePort(port: number): boolean {
  mkdirSync(PORTS_DIR, { recursive: true });
  const file = join(PORTS_DIR, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: "wx" });
    return true;
  } catch (e) {
    // Anything but "taken" (the folder is another user's) would make every port look taken: say
    // so instead of looping.
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  // Taken by another run, or left by one that was killed: a dead owner's port is taken over.
  if (ownerAlive(file)) return false;
  writeFileSync(file, String(process.pid));
  return ownerOf(file) === process.pid; // another run taking it over at the same moment wins alone
}

function ownerOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, "utf8"));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function ownerAlive(file: string): boolean {
  const pid = ownerOf(file);
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

/** Give a port back; only this process's own reservation is removed. */
export function releasePort(port: number): void {
  const file = join(PORTS_DIR, String(port));
  if (ownerOf(file) === process.pid) rmSync(file, { force: true });
}

/** A port in 61000-64999 (above Linux's ephemeral range) that no run has reserved and nobody listens on, now reserved. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 61_000 + Math.floor(Math.random() * 4_000);
    if (!reservePort(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
    releasePort(port);
  }
}
