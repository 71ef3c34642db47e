import { readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { ArchiveConflictError } from "./archive-errors.js";
import { writeDurably } from "./archive-files.js";

/**
 * FILE.lock: one archive run per FILE at a time. Two runs on one FILE (an overlapping cron
 * job) would otherwise take each other's FILE.tmp for a crash leftover. The lock names its
 * process; a lock whose process is gone (SIGKILL, power loss) is stale and is taken over, which
 * is what lets a rerun after a crash finish the job. Best effort across hosts: a lock from
 * another host is never taken over, since its process cannot be checked from here.
 */
export async function takeArchiveLock(path: string): Promise<() => Promise<void>> {
  const me = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      await writeDurably(path, JSON.stringify(me), "wx");
      return () => rm(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 2) throw e;
    }
    const holder = await readHolder(path);
    if (holder === "busy") throw busy(path, "a process that is starting");
    if (holder !== null) {
      if (holder.host !== me.host) throw busy(path, `process ${holder.pid} on host ${holder.host}`);
      if (alive(holder.pid)) throw busy(path, `process ${holder.pid}`);
    }
    await rm(path, { force: true });
  }
}

function busy(path: string, who: string): ArchiveConflictError {
  return new ArchiveConflictError(
    `Another archive run (${who}) is writing this archive: ${path} is held; wait for it, or remove ${path} if no such run exists`,
  );
}

/** null = stale or unreadable (the process died before writing it); "busy" = just created by a live process. */
async function readHolder(path: string): Promise<{ pid: number; host: string } | "busy" | null> {
  try {
    const text = await readFile(path, "utf8");
    const v = JSON.parse(text) as { pid?: unknown; host?: unknown };
    if (typeof v.pid === "number" && typeof v.host === "string") return { pid: v.pid, host: v.host };
    return null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    // Empty or partial: its writer may be between open and write. Young means alive.
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => Infinity,
    );
    return age < 5_000 ? "busy" : null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
