// A stand-in for a test process that dies without cleaning up (tests of die-with-parent).
// argv[2]: JSON {command, args, cwd?, env?, ready}: spawns the command, and once its output
// matches the regex `ready` (any case), prints {"pid": N} and waits forever, to be killed by the test.
import { spawn } from "node:child_process";

const { command, args, cwd, env, ready } = JSON.parse(process.argv[2]);
const child = spawn(command, args, {
  cwd,
  env: { PATH: process.env.PATH, ...env, EBB_TEST_PARENT_PID: String(process.pid) },
  stdio: ["ignore", "pipe", "pipe"],
});
let output = "";
let told = false;
const look = (d) => {
  output += d;
  if (!told && new RegExp(ready, "i").test(output)) {
    told = true;
    process.stdout.write(`${JSON.stringify({ pid: child.pid })}\n`);
  }
};
child.stdout.on("data", look);
child.stderr.on("data", look);
child.on("exit", (code, signal) => {
  process.stderr.write(`child exited early (${signal ?? code}):\n${output}\n`);
  process.exit(3);
});
setInterval(() => undefined, 60_000);
