/**
 * Ports taken by test runs on this machine, one file each, named by the port and holding the
 * owner's pid. A server's port stays reserved while it is stopped for a restart test, so another
 * run started at the same time cannot take it in between (seen: a restart failing with "Address
 * already in use" while a second `npm test` ran). Released by the server's destroy() or when the
 * process exits. Shared by the servers tests start of their own (redis-server.ts, the PostgreSQL
 * cluster of test/postgres-e2e).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PORTS_DIR = join(tmpdir(), "ebb-test-ports");

function reservePort(port: number): boolean {
  mkdirSync(PORTS_DIR, { recursive: true });
  try {
    writeFileSync(join(PORTS_DIR, String(port)), String(process.pid), { flag: "wx" });
    return true;
  } catch (e) {
    // Reserved by another run (or left by one that was killed): pick another port. Anything else
    // (the folder is another user's) would make every port look taken: say so instead of looping.
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

export function releasePort(port: number): void {
  rmSync(join(PORTS_DIR, String(port)), { force: true });
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
