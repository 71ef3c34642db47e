import { spawnSync } from "node:child_process";

/**
 * Servers a test starts must not outlive it, even when the test process is killed with SIGKILL
 * (then no "exit" handler runs). On Linux, util-linux's `setpriv --pdeathsig KILL` sets the
 * kernel's parent-death signal and then execs the command (same pid), so the kernel kills it
 * when the test process dies. Where setpriv (or its --pdeathsig) is missing, the command runs
 * as it is, and only the "exit" handlers and afterAll hooks stop it.
 * (Python children do the same for themselves: test/interop/python/parent_watch.py.)
 */
let setpriv: boolean | undefined;

function hasSetpriv(): boolean {
  if (setpriv === undefined) {
    const r = process.platform === "linux" ? spawnSync("setpriv", ["--help"], { encoding: "utf8", timeout: 5_000 }) : null;
    setpriv = r !== null && r.status === 0 && r.stdout.includes("--pdeathsig");
  }
  return setpriv;
}

/** [command, args] to spawn so that the process is SIGKILLed when this process dies. */
export function dieWithParent(command: string, args: string[]): [string, string[]] {
  return hasSetpriv() ? ["setpriv", ["--pdeathsig", "KILL", "--", command, ...args]] : [command, args];
}
