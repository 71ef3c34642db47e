import { ArchiveDirError } from "../archive/archive-errors.js";
import { ConfigError, EbbError, ProtocolError, StoreUnavailableError } from "../errors.js";

/** sysexits(3): what the CLI exits with when it cannot do what was asked. */
export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANTCREAT: 73,
  CONFIG: 78,
} as const;

/** Raised by the CLI itself for bad flags and arguments. */
export class UsageError extends ConfigError {}

/** A module given with -A that cannot be loaded. */
export class NoInputError extends ConfigError {}

/** The app module's configuration is wrong. */
export class AppConfigError extends ConfigError {}

/** One place that maps errors to exit statuses. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EX.USAGE;
  if (error instanceof AppConfigError) return EX.CONFIG;
  if (error instanceof ArchiveDirError) return EX.CANTCREAT;
  if (error instanceof NoInputError) return EX.NOINPUT;
  if (error instanceof StoreUnavailableError) return EX.UNAVAILABLE;
  if (error instanceof ProtocolError) return EX.DATAERR;
  if (error instanceof ConfigError) return EX.USAGE;
  if (error instanceof EbbError) return EX.SOFTWARE;
  return EX.SOFTWARE;
}
