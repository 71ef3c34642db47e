import { readFileSync } from "node:fs";

let cached: string | undefined;

/** The installed package's version (package.json sits two folders above src/ files, three above dist/src/ ones). */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (const rel of ["../../package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "ebb" && pkg.version) {
        cached = pkg.version;
        break;
      }
    } catch {
      // not at this depth
    }
  }
  return cached;
}
