import type { RetentionStore } from "../backends/retention-store.js";
import { exists, type ArchivePaths } from "./archive-files.js";
import { readArchive } from "./archive-reader.js";
import { scanQuery, selects, type Selection } from "./archive-selection.js";
import type { ArchiveOutcome } from "./archive-outcome.js";
import { readManifest } from "./manifest.js";

/**
 * --dry-run: what a real run would do, with nothing written or changed. Counts come from the
 * same selects() a real run uses. When a complete archive is already at FILE, a real run would
 * only finish its job, so that is what is counted: its entries still in the store.
 */
export async function dryRunArchive(
  store: RetentionStore,
  paths: ArchivePaths,
  selection: Selection,
  opts: { batchSize: number; delete: boolean },
): Promise<ArchiveOutcome> {
  if (await exists(paths.manifest)) {
    const manifest = await readManifest(paths.manifest);
    let present = 0;
    let ids: string[] = [];
    const count = async () => {
      present += (await Promise.all(ids.map((id) => store.read(id)))).filter((r) => r !== null).length;
      ids = [];
    };
    for await (const item of readArchive(paths.file, { indexPath: null })) {
      if (item.kind === "entry") ids.push(item.line.task_id);
      if (ids.length >= opts.batchSize) await count();
    }
    await count();
    return {
      archived: manifest.count,
      deleted: opts.delete ? present : 0,
      kept: 0,
      bytes: 0,
      file: paths.file,
      sha256: manifest.sha256,
      dryRun: true,
      resumed: true,
    };
  }
  const byTier: Record<string, { count: number; bytes: number }> = {};
  let archived = 0;
  let bytes = 0;
  for await (const batch of store.scan(scanQuery(selection, opts.batchSize))) {
    for (const r of batch) {
      if (!selects(r, selection)) continue;
      const tier = byTier[r.tier ?? "none"] ?? { count: 0, bytes: 0 };
      byTier[r.tier ?? "none"] = tier;
      tier.count += 1;
      tier.bytes += r.bytes;
      archived += 1;
      bytes += r.bytes;
    }
  }
  return {
    archived,
    deleted: opts.delete ? archived : 0,
    kept: 0,
    file: paths.file,
    sha256: null,
    dryRun: true,
    resumed: false,
    bytes,
    byTier,
  };
}
