import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { ArchiveDirError } from "./archive-errors.js";
import type { ArchivePaths } from "./archive-files.js";

/**
 * The archive's folder must exist and be writable before anything starts: otherwise the first
 * file written (FILE.lock) fails with a raw ENOENT, and a dry run would promise a run that
 * cannot happen. Ebb does not create it: a typo in --to should not grow a folder tree.
 */
export async function requireArchiveDir(paths: ArchivePaths): Promise<void> {
  const dir = paths.dir;
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => null,
  );
  if (isDir === null)
    throw new ArchiveDirError(
      `Cannot create the archive ${paths.file}: the folder ${dir} does not exist; create it (mkdir -p ${dir}) or pass --to a path in an existing folder`,
    );
  if (!isDir)
    throw new ArchiveDirError(`Cannot create the archive ${paths.file}: ${dir} is not a folder; pass --to a path in an existing folder`);
  const writable = await access(dir, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!writable)
    throw new ArchiveDirError(
      `Cannot create the archive ${paths.file}: the folder ${dir} is not writable by this user; fix its permissions or pass --to another folder`,
    );
}
