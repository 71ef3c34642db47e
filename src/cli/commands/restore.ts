import { stringifyCeleryJson } from "../../protocol/celery-json.js";
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { restoreResults, type RestoreOutcome, type RestoreProblem } from "../../archive/restore-results.js";
import { backendFromUrl } from "../../backends/by-url.js";
import { retentionStoreOf, type RetentionBackend } from "../../backends/retention-store.js";
import { redactUrl } from "../../url.js";
import { EX, NoInputError } from "../exit-codes.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";

interface RestoreFlags extends AppFlags {
  taskId?: string;
  into?: string;
  resultExpires?: string;
  json?: boolean;
}

/** --json lists at most this many entries (and problems), with "truncated": true beyond; plain output streams them all. */
export const JSON_ENTRY_CAP = 1000;

/**
 * `ebb restore FILE`: exit 0 when entries were found · 1 when none (e.g. --task-id not in the
 * archive) · 65 when corrupt lines were met or FILE does not match its manifest (after the
 * good entries were printed or restored). Plain output without --into is the archived lines
 * themselves, as JSON Lines on stdout, so it pipes into jq; problems and the summary go to stderr.
 */
export function restoreCommand(program: Command, io: CliIO, done: (code: number) => void, opts: { stderrIsTTY?: boolean } = {}): void {
  withAppFlags(
    program
      .command("restore")
      .argument("<file>", "an archive written by ebb archive")
      .description("print archived results, or re-import them into a store"),
  )
    .option("--task-id <id>", "only this task's entry, found through FILE.idx without decompressing the whole archive")
    .option("--into <url>", "re-import into this result store (sqlite://, redis://, ...); ids already there are reported, not replaced")
    .option(
      "--result-expires <dur|never>",
      "lifetime of the re-imported results, from now (default: the archived expiry if still ahead, else 24h)",
    )
    .action(async (file: string, flags: RestoreFlags) => {
      if (!existsSync(file))
        throw new NoInputError(`Cannot find archive ${JSON.stringify(file)}; pass the path of a .jsonl.gz file written by ebb archive`);
      const resultExpiresMs = flags.resultExpires === undefined ? undefined : durationFlag("--result-expires", flags.resultExpires, true);
      const into = flags.into === undefined ? undefined : await openStore(flags.into);
      const entries: unknown[] = [];
      const problems: RestoreProblem[] = [];
      const tty = (opts.stderrIsTTY ?? process.stderr.isTTY === true) && into !== undefined;
      let seen = 0;
      let problemCount = 0;
      let drawn = 0;
      let out: RestoreOutcome;
      try {
        out = await restoreResults(file, {
          ...(flags.taskId !== undefined ? { taskId: flags.taskId } : {}),
          ...(into ? { into, intoAcceptsPickle: flags.into!.startsWith("db+") } : {}),
          ...(resultExpiresMs !== undefined ? { resultExpiresMs } : {}),
          onEntry: (e) => {
            seen += 1;
            if (flags.json) {
              if (entries.length < JSON_ENTRY_CAP) entries.push(e.line);
            }
            if (tty && Date.now() - drawn > 100) {
              drawn = Date.now();
              io.err(`\r\x1b[Krestore: ${seen} entries`);
            }
            // Printed lines wait for a slow reader (the promise) instead of piling up in memory.
            if (!flags.json && !into) return io.out(`${stringifyCeleryJson(e.line)}\n`);
            return undefined;
          },
          onProblem: (p) => {
            problemCount += 1;
            if (problems.length < JSON_ENTRY_CAP) problems.push(p);
            if (!flags.json) io.err(`ebb: ${p.file} line ${p.line}${p.member === null ? "" : ` (member ${p.member})`}: ${p.message}\n`);
          },
        });
      } finally {
        await into?.close();
      }
      if (tty && drawn > 0) io.err("\r\x1b[K");
      if (out.manifest?.problem) io.err(`ebb: ${out.manifest.problem}\n`);
      else if (out.manifest && !out.manifest.sha256Ok)
        io.err(`ebb: ${file} does not match its manifest: sha256 ${out.manifest.actual}, expected ${out.manifest.expected}\n`);
      if (flags.json) {
        const truncated = out.found > entries.length || problemCount > problems.length;
        printJson(io, {
          found: out.found,
          restored: out.restored,
          entries,
          truncated,
          present: out.present,
          skipped: out.skipped,
          bad: out.bad,
          errors: problems,
          manifest: out.manifest,
          index: out.index,
        });
      } else {
        const line = summary(out, flags.into);
        if (into) io.out(line);
        else io.err(line);
      }
      done(out.bad > 0 || out.manifest?.sha256Ok === false ? EX.DATAERR : out.found > 0 ? 0 : 1);
    });
}

async function openStore(url: string): Promise<RetentionBackend> {
  const backend = await backendFromUrl(url);
  try {
    return retentionStoreOf(backend, "restore --into");
  } catch (e) {
    await backend.close();
    throw e;
  }
}

function summary(o: RestoreOutcome, into: string | undefined): string {
  const parts = [`found ${o.found}`];
  if (into !== undefined) parts.push(`restored ${o.restored} into ${redactUrl(into)}`, `${o.present} already there`);
  if (o.skipped > 0) parts.push(`${o.skipped} pickled Celery rows skipped (restore them into a db+ URL)`);
  if (o.bad > 0) parts.push(`${o.bad} bad lines`);
  return `restore: ${parts.join(", ")}\n`;
}
