import { fork, type ChildProcess } from "node:child_process";
import type { CliIO } from "./io.js";

/** Set in each worker process `ebb worker --processes N` starts: its index, 0..N-1. */
export const PROCESS_INDEX_ENV = "EBB_WORKER_PROCESS";

const RESTART_DELAY_MS = 1_000;
/** What a child sends its supervisor once its worker is consuming (sendReady). */
const READY = "ebb-worker-ready";

/** In a child of superviseWorkers: tell the supervisor this worker is up (a later exit is restarted). */
export function sendReady(): void {
  process.send?.(READY);
}

/**
 * `ebb worker --processes N`: N worker processes from one command, to use more than one core
 * (one Node process runs its tasks on one). This process only supervises: each child is the same
 * `ebb worker` command (same flags) with PROCESS_INDEX_ENV set, so it runs one worker of its own,
 * with its own connections, leases and remote-control name (the index is added to --hostname).
 * Beat runs in child 0 only (ticks are claimed in the store, so more would be safe, but idle).
 *
 * Signals are passed on: the first SIGTERM/SIGINT stops every child warmly, a second one at
 * once. A child that exits on its own (a crash, a remote shutdown) is started again after a
 * second, unless it never came up (a broken app would only loop: its code is the command's) or
 * the command is stopping. Resolves with the highest exit code of the children once all have exited.
 */
export function superviseWorkers(io: CliIO, processes: number, argv: readonly string[], script: string): Promise<number> {
  return new Promise((resolve) => {
    const children = new Map<number, ChildProcess>();
    let stopping = 0;
    let worst = 0;
    const start = (index: number): void => {
      let ready = false;
      // Its own process group: a terminal's Ctrl-C reaches this process alone, which passes it
      // on once (the group would deliver it twice: a hard stop). A child whose supervisor dies
      // sees its IPC channel close and stops warmly (see workerCommand).
      const child = fork(script, argv, {
        env: { ...process.env, [PROCESS_INDEX_ENV]: String(index) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        detached: true,
      });
      children.set(index, child);
      child.on("message", (m) => {
        if (m === READY) ready = true;
      });
      child.on("exit", (code, signal) => {
        children.delete(index);
        const exit = code ?? (signal === "SIGKILL" ? 137 : 1);
        if (stopping === 0 && (code !== 0 || signal !== null) && ready) {
          io.err(
            `Worker process ${index} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); starting it again in ${RESTART_DELAY_MS / 1000}s\n`,
          );
          setTimeout(() => (stopping === 0 ? start(index) : finish()), RESTART_DELAY_MS);
          return;
        }
        if (stopping === 0 && !ready && exit !== 0)
          io.err(`Worker process ${index} (pid ${child.pid}) failed before it started consuming (code ${exit}); not restarting it\n`);
        worst = Math.max(worst, exit);
        finish();
      });
    };
    const finish = (): void => {
      if (children.size === 0) {
        off();
        resolve(worst);
      }
    };
    const off = io.onStop((count) => {
      stopping = count;
      for (const child of children.values()) child.kill(count === 1 ? "SIGTERM" : "SIGINT");
    });
    for (let i = 0; i < processes; i++) start(i);
  });
}

/** The node name of child `index` when the command gave --hostname `name`: "w1@host" → "w1-2@host". */
export function childName(name: string, index: number): string {
  const at = name.indexOf("@");
  return at < 0 ? `${name}-${index}` : `${name.slice(0, at)}-${index}${name.slice(at)}`;
}
