import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { redactUrl } from "../url.js";

/** The in-memory database; one per process (see open-database.ts), gone when the process ends. */
export const MEMORY_PATH = ":memory:";

const PREFIX = "sqlite://";
const EXAMPLE = `"sqlite://./ebb.db" (relative to the working directory) or "sqlite:///var/lib/ebb/ebb.db" (absolute)`;

/**
 * The database file named by a `sqlite://PATH` URL. Everything after `sqlite://` is a
 * filesystem path, so `sqlite://./ebb.db` is relative to the working directory and
 * `sqlite:///tmp/x.db` is absolute; `sqlite://:memory:` is an in-memory database.
 * Relative paths are resolved now, so a later chdir() does not move the store.
 */
export function sqlitePathFromUrl(url: string): string {
  if (!url.toLowerCase().startsWith(PREFIX)) {
    throw new ConfigError(`Expected a SQLite URL such as ${EXAMPLE}, got ${JSON.stringify(redactUrl(url))}`);
  }
  const path = url.slice(PREFIX.length);
  if (path.length === 0) {
    throw new ConfigError(
      `SQLite URL ${JSON.stringify(redactUrl(url))} names no database file; write its path after sqlite://, e.g. ${EXAMPLE}`,
    );
  }
  if (path === MEMORY_PATH) return MEMORY_PATH;
  return isAbsolute(path) ? path : resolve(process.cwd(), path);
}
