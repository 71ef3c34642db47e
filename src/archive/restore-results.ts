import { basename } from "node:path";
import type { RetentionStore } from "../backends/retention-store.js";
import { exists, hashFile } from "./archive-files.js";
import { lineToStoredResult, type ArchiveLine, type ParsedLine } from "./archive-line.js";
import { ArchiveDataError } from "./archive-errors.js";
import { indexUsable, readArchive, type ArchiveItem } from "./archive-reader.js";
import { readManifest, type ArchiveManifest } from "./manifest.js";

/** Restored results whose archived expiry has passed live this long from now, unless told otherwise. */
export const DEFAULT_RESTORE_LIFETIME_MS = 24 * 3_600_000;

export interface RestoreOptions {
  /** Only this id; found through FILE.idx, decompressing only the member(s) that may hold it. */
  taskId?: string;
  /** Re-import into this store; without it entries are only read (and reported to onEntry). */
  into?: RetentionStore;
  /**
   * The restored results' lifetime, from now: ms, or null = never. Left out: a result keeps its
   * archived expires_at while that is still in the future, else it gets DEFAULT_RESTORE_LIFETIME_MS,
   * so a restore never brings back results that are already expired (cleanup would take them at once).
   */
  resultExpiresMs?: number | null;
  /** The target keeps Celery's pickled results (a db+ URL): only then are result_pickle_base64 lines re-imported. */
  intoAcceptsPickle?: boolean;
  /** Each matching entry, in file order, with what happened to it. A promise it returns is awaited before the next entry (a printer's backpressure). */
  onEntry?: (entry: RestoredEntry) => unknown;
  /** Each line that could not be read. */
  onProblem?: (problem: RestoreProblem) => void;
}

export type EntryOutcome = "read" | "restored" | "present" | "skipped";

export interface RestoredEntry {
  line: ArchiveLine;
  lineNo: number;
  outcome: EntryOutcome;
}

export interface RestoreProblem {
  file: string;
  line: number;
  member: number | null;
  message: string;
}

export interface RestoreOutcome {
  found: number;
  restored: number;
  /** Already in the target store: reported, not duplicated (put with replace: false). */
  present: number;
  /** Pickled Celery rows that the target store cannot hold. */
  skipped: number;
  /** Lines that could not be read (bad JSON, no task_id, damaged or truncated gzip). */
  bad: number;
  /** null when there is no manifest beside FILE; `problem` when it cannot be read (the entries are still read). */
  manifest: { sha256Ok: boolean; expected: string; actual: string; problem?: string } | null;
  /** How entries were found: through the index, or by reading the whole file (and why). */
  index: { used: boolean; why?: string };
}

/** Read or re-import an archive's entries. Bounded memory: one member (or one stream chunk) at a time. */
export async function restoreResults(file: string, opts: RestoreOptions = {}): Promise<RestoreOutcome> {
  const name = basename(file);
  const out: RestoreOutcome = { found: 0, restored: 0, present: 0, skipped: 0, bad: 0, manifest: null, index: { used: false } };
  const idxPath = `${file}.idx`;
  const { usable, expectedLines } = await checkManifest(file, idxPath, out);

  const now = opts.into ? await opts.into.now() : 0;
  const lifetime = (p: ParsedLine): number | null => {
    if (opts.resultExpiresMs === null) return null;
    if (opts.resultExpiresMs !== undefined) return now + opts.resultExpiresMs;
    return p.expiresAt !== null && p.expiresAt > now ? p.expiresAt : now + DEFAULT_RESTORE_LIFETIME_MS;
  };
  // Awaited only when onEntry returns a promise: a million entries need not cost a million ticks.
  const report = (entry: RestoredEntry): Promise<unknown> | undefined => {
    const pending = opts.onEntry?.(entry);
    return pending instanceof Promise ? pending : undefined;
  };
  // Puts go in small concurrent groups (a network store answers faster so); entries are reported in file order.
  let group: (ParsedLine & { lineNo: number })[] = [];
  const flush = async () => {
    const outcomes = await Promise.all(group.map(putOne));
    for (const [i, e] of group.entries()) {
      const outcome = outcomes[i]!;
      if (outcome === "restored") out.restored += 1;
      else if (outcome === "present") out.present += 1;
      else out.skipped += 1;
      const pending = report({ line: e.line, lineNo: e.lineNo, outcome });
      if (pending) await pending;
    }
    group = [];
  };
  const putOne = async (p: ParsedLine): Promise<EntryOutcome> => {
    const line = p.line;
    const stored = lineToStoredResult(p, lifetime(p));
    if (line.result_pickle_base64 !== undefined) {
      if (!opts.intoAcceptsPickle) return "skipped";
      Object.assign(stored, { resultPickleBase64: line.result_pickle_base64 });
    }
    return (await opts.into!.put(stored, { replace: false })) ? "restored" : "present";
  };

  const items: AsyncIterable<ArchiveItem> = readArchive(file, {
    indexPath: usable ? idxPath : null,
    ...(opts.taskId !== undefined ? { taskId: opts.taskId } : { expectedLines }),
  });
  for await (const item of items) {
    if (item.kind === "error") {
      out.bad += item.lost;
      opts.onProblem?.({ file: name, line: item.lineNo, member: item.member, message: item.message });
      continue;
    }
    out.found += 1;
    if (!opts.into) {
      const pending = report({ line: item.line, lineNo: item.lineNo, outcome: "read" });
      if (pending) await pending;
      continue;
    }
    group.push(item);
    if (group.length >= 64) await flush();
  }
  await flush();
  return out;
}

/**
 * Check FILE against its manifest (when there is one) and decide whether FILE.idx can be used:
 * with a manifest, only if it hashes to what the manifest recorded; without, if it is well formed
 * and covers the file. A wrong index would hide entries from --task-id, so the file is then
 * read whole instead.
 */
async function checkManifest(file: string, idxPath: string, out: RestoreOutcome): Promise<{ usable: boolean; expectedLines?: number }> {
  const manifestPath = `${file}.manifest.json`;
  const byStructure = async () => {
    const check = await indexUsable(idxPath, file);
    out.index = check.ok ? { used: true } : { used: false, why: check.why };
    return { usable: check.ok };
  };
  if (!(await exists(manifestPath))) return byStructure();
  const actual = (await hashFile(file)).sha256;
  let manifest: ArchiveManifest;
  try {
    manifest = await readManifest(manifestPath);
  } catch (e) {
    if (!(e instanceof ArchiveDataError)) throw e;
    out.manifest = { sha256Ok: false, expected: "", actual, problem: e.message };
    return byStructure();
  }
  out.manifest = { sha256Ok: actual === manifest.sha256, expected: manifest.sha256, actual };
  const idxOk = (await exists(idxPath)) && (await hashFile(idxPath)).sha256 === manifest.index.sha256;
  out.index = idxOk ? { used: true } : { used: false, why: `${idxPath} is missing or does not match the manifest` };
  return { usable: idxOk, expectedLines: manifest.count };
}
