import type { Command } from "commander";
import { UsageError } from "../exit-codes.js";
import { intFlag } from "../flags.js";
import type { CliIO } from "../io.js";
import { loadApp } from "../load-app.js";

interface WorkerFlags {
  app?: string;
  concurrency?: string;
  queues?: string;
}

/**
 * `ebb worker -A MODULE`: consume until SIGTERM/SIGINT, then finish what is in flight and
 * exit 0. A second signal stops at once (exit 130); unacked messages are redelivered later.
 */
export function workerCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  program
    .command("worker")
    .description("run a worker for the app that MODULE exports")
    .option("-A, --app <module>", "module that exports the app (as `app` or default)")
    .option("-c, --concurrency <n>", "tasks at once", "10")
    .option("-Q, --queues <q1,q2>", "queues to consume, comma separated")
    .action(async (flags: WorkerFlags) => {
      if (!flags.app) throw new UsageError("ebb worker needs -A MODULE: the module that exports your app and registers its tasks");
      const concurrency = intFlag("--concurrency", flags.concurrency ?? "10", 1, 10_000);
      const queues = flags.queues?.split(",").map((q) => q.trim()).filter(Boolean);
      const app = await loadApp({ app: flags.app });
      const worker = await app.worker({ concurrency, ...(queues ? { queues } : {}) });
      const off = io.onStop((count) => {
        if (count === 1) {
          io.err(`Stopping: finishing ${worker.active} task(s) in flight (signal again to stop at once)\n`);
          void worker.stop();
        } else {
          worker.abort();
          done(130);
        }
      });
      try {
        await worker.start();
      } finally {
        off();
        await app.close();
      }
      done(0);
    });
}
