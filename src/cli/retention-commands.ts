import type { Command } from "commander";
import { archiveCommand } from "./commands/archive.js";
import { checkCommand } from "./commands/check.js";
import { cleanupCommand } from "./commands/cleanup.js";
import { holdCommand } from "./commands/hold.js";
import { policyCommand } from "./commands/policy.js";
import { restoreCommand } from "./commands/restore.js";
import { statsCommand } from "./commands/stats.js";
import type { CliIO } from "./io.js";

/** The retention commands (cleanup, archive, restore, stats, check, hold, policy explain), registered in the order `ebb --help` lists them. */
export function retentionCommands(program: Command, io: CliIO, done: (code: number) => void, opts: { stderrIsTTY?: boolean } = {}): void {
  cleanupCommand(program, io, done, opts);
  archiveCommand(program, io, done, opts);
  restoreCommand(program, io, done, opts);
  statsCommand(program, io, done);
  checkCommand(program, io, done);
  holdCommand(program, io, done);
  policyCommand(program, io, done);
}
