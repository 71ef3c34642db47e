import type { Command } from "commander";
import { explainPolicy, type PolicyExplanation } from "../../retention/explain.js";
import { withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import { closeUnlessKnown, requireKnownTask } from "../known-names.js";
import { loadApp, type AppFlags } from "../load-app.js";

interface PolicyFlags extends AppFlags {
  json?: boolean;
}

/** `ebb policy explain TASK`: which rule gives TASK's results their lifetime. Needs -A for the app's own tasks. */
export function policyCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  const policy = program.command("policy").description("retention policy");
  withAppFlags(
    policy.command("explain").argument("<task>", "task name").description("which rule gives TASK's results their lifetime, and why"),
  ).action(async (task: string, flags: PolicyFlags) => {
    const app = await loadApp(flags);
    if (flags.app !== undefined) await closeUnlessKnown(app, () => requireKnownTask(app, task, flags.app!, ""));
    // Only the app's config and task registry are read: no store is opened.
    const explained = explainPolicy(task, app);
    await app.close();
    if (flags.json) {
      const { expiresMs: _ms, ...printed } = explained;
      printJson(io, printed);
    } else {
      io.out(
        `${task}: ${summary(explained)}${explained.tier ? `, tier ${explained.tier}` : ""} (source: ${explained.source})\n${explained.reason}\n`,
      );
    }
    done(0);
  });
}

/** "1d, delete", "never (kept forever)", "not stored (ignoreResult)", "successes not stored (ignoreResult); failures 1d, delete". */
function summary(e: PolicyExplanation): string {
  const life =
    e.action === "none"
      ? `${e.expires} (kept forever)`
      : `${e.expires}${e.fallback ? ` (fallback ${e.fallback.expires})` : ""}, ${e.action}`;
  if (e.stores === "nothing") return "not stored (ignoreResult)";
  if (e.stores === "failures") return `successes not stored (ignoreResult); failures ${life}`;
  return life;
}
