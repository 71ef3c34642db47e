import { ConfigError, UnknownSchemeError, describe } from "./errors.js";

/** Replace the password of every URL in `text` with "***" so it can be printed. Works on unparseable strings too. */
export function redactUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/\s]*)@/gi, (_m, scheme: string, user: string) => `${scheme}${user}:***@`)
    .replace(/:(?!\*\*\*@)[^:/@\s"']+@/g, ":***@"); // user:pass@host without a scheme://
}

/** The scheme of a store URL, lower-cased, without "://". Throws a ConfigError naming the option. */
export function schemeOf(url: unknown, option: string): string {
  if (typeof url !== "string" || url.length === 0) {
    throw new ConfigError(`Expected ${option} to be a URL such as "sqlite://./ebb.db" or "redis://localhost:6379/0", got ${describe(url)}`);
  }
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!m)
    throw new ConfigError(
      `Expected ${option} to be a URL such as "sqlite://./ebb.db", got ${JSON.stringify(redactUrl(url))}: it has no scheme://`,
    );
  return m[1]!.toLowerCase();
}

/** Pick an implementation by scheme; the error for an unknown scheme lists the known ones. */
export function pickByScheme<T>(url: string, option: string, table: Record<string, T>): T {
  const scheme = schemeOf(url, option);
  const hit = Object.hasOwn(table, scheme) ? table[scheme] : undefined;
  if (hit === undefined) {
    throw new UnknownSchemeError(
      `Unknown ${option} scheme "${scheme}://" in ${JSON.stringify(redactUrl(url))}; known schemes: ${Object.keys(table)
        .map((s) => `${s}://`)
        .join(", ")}`,
    );
  }
  return hit;
}
