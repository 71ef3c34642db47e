import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createApp, type App } from "../app.js";
import { redactUrl } from "../url.js";
import { AppConfigError, NoInputError, UsageError } from "./exit-codes.js";

export interface AppFlags {
  app?: string;
  broker?: string;
  backend?: string;
}

/**
 * The app a command works on: the one MODULE exports (as `app` or default), or one made from
 * --broker/--backend URLs. EBB_BROKER_URL / EBB_BACKEND_URL are createApp()'s own defaults, so
 * they apply in both cases; only the explicit flags conflict with -A. `.ts` modules load through tsx.
 */
export async function loadApp(flags: AppFlags): Promise<App> {
  if (!flags.app) {
    return createApp({ ...(flags.broker ? { broker: flags.broker } : {}), ...(flags.backend ? { backend: flags.backend } : {}) });
  }
  if (flags.broker || flags.backend)
    throw new UsageError("Give either -A MODULE or --broker/--backend URLs, not both: the module's app has its own URLs");
  const app = pickApp(await importModule(flags.app), flags.app);
  return app;
}

async function importModule(spec: string): Promise<Record<string, unknown>> {
  const path = resolve(spec);
  const isFile = existsSync(path);
  if (!isFile && (spec.startsWith(".") || spec.includes("/") || /\.[cm]?[jt]s$/.test(spec))) {
    throw new NoInputError(
      `Cannot find app module ${JSON.stringify(spec)} (looked at ${path}); pass -A with the path of a module that exports your app`,
    );
  }
  try {
    if (isFile && /\.[cm]?ts$/.test(path)) {
      // tsImport, not register(): it loads the module whatever package.json's "type" says (npm
      // init's default is CommonJS, where register() ends in "Cannot require() ES Module … in a cycle").
      process.setSourceMapsEnabled(true);
      const { tsImport } = await import("tsx/esm/api");
      return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
    }
    return (await import(isFile ? pathToFileURL(path).href : spec)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === "ERR_MODULE_NOT_FOUND" && !isFile)
      throw new NoInputError(`Cannot find app module ${JSON.stringify(spec)}; pass -A with a path such as ./app.mjs`);
    // The module's own createApp() rejected its config (the module may use another copy of ebb, so match the code, not the class).
    if (err.code === "CONFIG" || err.code === "UNKNOWN_SCHEME")
      throw new AppConfigError(`App module ${JSON.stringify(spec)}: ${redactUrl(err.message)}`, { cause: e });
    // The module exists but does not load (a syntax error, a throw at import, a missing import): its own code is wrong.
    const where = isFile ? errorLocation(err, path) : null;
    const what = `${err.name && !String(err.message).startsWith(err.name) ? `${err.name}: ` : ""}${firstLine(err.message ?? String(e))}`;
    throw new AppConfigError(`App module ${JSON.stringify(spec)} failed to load${where ? ` at ${where}` : ""}: ${redactUrl(what)}`, {
      cause: e,
    });
  }
}

function firstLine(text: string): string {
  // esbuild's "Transform failed with 1 error:\nFILE:LINE:COL: ERROR: …" says it on its second line.
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.length > 1 && /^Transform failed/.test(lines[0]!) ? lines[1]!.replace(/^.*?: ERROR: /, "") : (lines[0] ?? text);
}

/** Ebb's own code (dist/src/ or src/): a frame there is where the error surfaced, not where the app is wrong. */
const EBB_SRC = fileURLToPath(new URL("../", import.meta.url));

/**
 * FILE:LINE of a load failure: the first place in the error's text outside node_modules, Node's
 * internals and Ebb itself. An ESM syntax error carries no location in its stack, so
 * `node --check` is asked for it.
 */

function errorLocation(err: Error, path: string): string | null {
  // Frames in tsx's data: URLs (a .ts module in a CommonJS folder) count lines of generated code: no location beats a wrong one.
  const text = `${err.message ?? ""}\n${err.stack ?? ""}`
    .split("\n")
    .filter((l) => !l.includes("data:text/javascript"))
    .join("\n");
  for (const m of text.matchAll(/(?:file:\/\/)?(\/[^\s()"'?:]+\.[cm]?[jt]sx?)(?:\?[^\s():]*)?:(\d+)(?::\d+)?/g)) {
    if (!m[1]!.includes("/node_modules/") && !m[1]!.startsWith(EBB_SRC)) return `${m[1]}:${m[2]}`;
  }
  if (err.name !== "SyntaxError" || /\.[cm]?ts$/.test(path)) return null;
  const check = spawnSync(process.execPath, ["--check", path], { encoding: "utf8", timeout: 10_000 });
  const first = /^(.+):(\d+)\s*$/m.exec(check.stderr ?? "");
  return first ? `${first[1]}:${first[2]}` : null;
}

function pickApp(mod: Record<string, unknown>, spec: string): App {
  for (const candidate of [mod.app, mod.default]) {
    if (isApp(candidate)) return candidate;
  }
  throw new NoInputError(
    `Module ${JSON.stringify(spec)} exports no app; export it as \`export const app = createApp(...)\` or as the default export`,
  );
}

function isApp(v: unknown): v is App {
  return typeof v === "object" && v !== null && typeof (v as App).task === "function" && typeof (v as App).worker === "function";
}
