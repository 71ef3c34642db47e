import type { Command } from "commander";
import { withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { withRetentionStore } from "../retention-store.js";

interface HoldFlags extends AppFlags {
  release?: boolean;
  json?: boolean;
}

/** `ebb hold ID [--release]`: exit 0, or 1 when there is no such result (a hold needs a stored result to hold). */
export function holdCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(
    program
      .command("hold")
      .argument("<id>", "task id")
      .description("put a legal hold on one result (it is never expired or cleaned), or release it"),
  )
    .option("--release", "release the hold")
    .action(async (id: string, flags: HoldFlags) => {
      const held = flags.release !== true;
      const found = await withRetentionStore(flags, (store) => store.setHeld(id, held));
      if (flags.json) printJson(io, { id, held: found ? held : false });
      else if (found) io.out(`${id} ${held ? "held" : "released"}\n`);
      else io.err(`ebb: no result with id ${JSON.stringify(id)} (it was never stored, was forgotten, or has been cleaned)\n`);
      done(found ? 0 : 1);
    });
}
