import type { Command } from "commander";
import { UsageError } from "../exit-codes.js";
import type { CliIO } from "../io.js";
import { loadApp } from "../load-app.js";
import { startBeat } from "../start-beat.js";

interface BeatFlags {
  app?: string;
}

/**
 * `ebb beat -A MODULE`: run the scheduler alone until SIGTERM/SIGINT, then finish the pass in
 * progress (a claimed tick is still sent) and exit 0; a second signal exits 130 at once. Run as
 * many as you like: each tick is claimed in the store.
 */
export function beatCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  program
    .command("beat")
    .description("run the scheduler for the app that MODULE exports (any number may run: ticks are claimed in the store)")
    .option("-A, --app <module>", "module that exports the app (as `app` or default)")
    .action(async (flags: BeatFlags) => {
      if (!flags.app) throw new UsageError("ebb beat needs -A MODULE: the module that exports your app and its beatSchedule");
      const app = await loadApp({ app: flags.app });
      try {
        const beat = await startBeat(app);
        const off = io.onStop((count) => {
          if (count === 1) {
            io.err("Stopping beat (signal again to stop at once)\n");
            void beat.stop();
          } else {
            done(130);
            io.exitNow(130);
          }
        });
        try {
          await beat.start();
        } finally {
          off();
        }
      } finally {
        await app.close();
      }
      done(0);
    });
}
