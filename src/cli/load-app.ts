import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
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
  if (flags.broker || flags.backend) throw new UsageError("Give either -A MODULE or --broker/--backend URLs, not both: the module's app has its own URLs");
  const app = pickApp(await importModule(flags.app), flags.app);
  return app;
}

async function importModule(spec: string): Promise<Record<string, unknown>> {
  const path = resolve(spec);
  const isFile = existsSync(path);
  if (!isFile && (spec.startsWith(".") || spec.includes("/") || /\.[cm]?[jt]s$/.test(spec))) {
    throw new NoInputError(`Cannot find app module ${JSON.stringify(spec)} (looked at ${path}); pass -A with the path of a module that exports your app`);
  }
  if (isFile && /\.[cm]?ts$/.test(path)) {
    const { register } = await import("tsx/esm/api");
    register();
  }
  try {
    return (await import(isFile ? pathToFileURL(path).href : spec)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === "ERR_MODULE_NOT_FOUND" && !isFile) throw new NoInputError(`Cannot find app module ${JSON.stringify(spec)}; pass -A with a path such as ./app.mjs`);
    // The module's own createApp() rejected its config (the module may use another copy of ebb, so match the code, not the class).
    if (err.code === "CONFIG" || err.code === "UNKNOWN_SCHEME") throw new AppConfigError(`App module ${JSON.stringify(spec)}: ${redactUrl(err.message)}`, { cause: e });
    throw new NoInputError(`Loading app module ${JSON.stringify(spec)} failed: ${redactUrl(err.message ?? String(e))}`, { cause: e });
  }
}

function pickApp(mod: Record<string, unknown>, spec: string): App {
  for (const candidate of [mod.app, mod.default]) {
    if (isApp(candidate)) return candidate;
  }
  throw new NoInputError(`Module ${JSON.stringify(spec)} exports no app; export it as \`export const app = createApp(...)\` or as the default export`);
}

function isApp(v: unknown): v is App {
  return typeof v === "object" && v !== null && typeof (v as App).task === "function" && typeof (v as App).worker === "function";
}
