import { stringifyCeleryJson } from "../../protocol/celery-json.js";
import type { Command } from "commander";
import { EbbError } from "../../errors.js";
import type { ResultInfo } from "../../result.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import { loadApp, type AppFlags } from "../load-app.js";

interface ResultFlags extends AppFlags {
  wait?: string;
  json?: boolean;
}

/** 0 SUCCESS · 1 FAILURE/REVOKED/EXPIRED · 2 not ready (the contract in the README). */
export function resultExitCode(state: ResultInfo["state"]): number {
  if (state === "SUCCESS") return 0;
  if (state === "FAILURE" || state === "REVOKED" || state === "EXPIRED") return 1;
  return 2;
}

export function resultCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(program.command("result").argument("<id>", "task id").description("read one result"))
    .option("--wait <dur>", "wait up to this long for the result to be ready")
    .action(async (id: string, flags: ResultFlags) => {
      const waitMs = flags.wait === undefined ? 0 : durationFlag("--wait", flags.wait)!;
      const app = await loadApp(flags);
      let info: ResultInfo;
      try {
        const res = app.asyncResult(id);
        if (waitMs > 0) {
          // get() ends on ready, expiry or timeout; the state read below says which.
          await res.get({ timeoutMs: waitMs }).catch((e: unknown) => {
            if (!(e instanceof EbbError)) throw e;
          });
        }
        info = await res.info();
      } finally {
        await app.close();
      }
      if (flags.json) {
        printJson(io, {
          id: info.id,
          state: info.state,
          result: info.result,
          dateDone: info.dateDone,
          expiresAt: info.expiresAt,
          tier: info.tier,
          ...(info.archived ? { archived: info.archived } : {}),
        });
      } else {
        io.out(`${info.id} ${info.state}\n`);
        if (info.state === "SUCCESS" || info.state === "FAILURE" || info.state === "REVOKED")
          io.out(`result: ${stringifyCeleryJson(info.result)}\n`);
        if (info.dateDone) io.out(`done: ${info.dateDone}\n`);
        io.out(
          `${info.state === "EXPIRED" ? "expired" : "expires"}: ${info.expiresAt ?? (info.state === "PENDING" ? "-" : "never")}${info.tier ? ` (tier ${info.tier})` : ""}\n`,
        );
        if (info.archived)
          io.out(`archived: ${info.archived.file} at ${info.archived.at} (ebb restore ${info.archived.file} --task-id ${info.id})\n`);
      }
      done(resultExitCode(info.state));
    });
}
