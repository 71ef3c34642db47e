import { ConfigError, ProtocolError } from "../errors.js";

/**
 * Archive errors sit in Ebb's one error tree, so the CLI's one mapper gives their exit status:
 *  - ArchiveDataError (a ProtocolError, EX_DATAERR 65): an archive does not verify (sha256,
 *    count, gzip, lines) — nothing is deleted on its account;
 *  - ArchiveConflictError (a ConfigError, EX_USAGE 64): --to names a file Ebb must not touch
 *    (it exists and is no complete Ebb archive), or another run is writing it now;
 *  - ArchiveDirError (a ConfigError, EX_CANTCREAT 73): the folder --to names does not exist or is
 *    not a writable folder, so no archive can be created there.
 */
export class ArchiveDataError extends ProtocolError {}

export class ArchiveConflictError extends ConfigError {}

export class ArchiveDirError extends ConfigError {}
