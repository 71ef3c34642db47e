import type { App } from "../app.js";
import type { Beat } from "../beat/beat.js";
import { ConfigError } from "../errors.js";
import { AppConfigError } from "./exit-codes.js";

/**
 * The app's beat, checked at start-up: a schedule that cannot run (an entry whose task is not
 * registered, a store that cannot hold beat's state) stops the process now with exit 78, naming
 * the entry, rather than at 4 a.m.
 */
export async function startBeat(app: App): Promise<Beat> {
  try {
    return await app.beat();
  } catch (e) {
    if (e instanceof ConfigError) throw new AppConfigError(e.message, { cause: e });
    throw e;
  }
}
