import type { App } from "../app.js";
import { UsageError } from "./exit-codes.js";

/**
 * Names an app module defines: its tasks and its tiers. When a command is given -A, a task or
 * tier the app does not know is a typo until proven otherwise: exit 64 with the known names,
 * rather than sending a message no worker runs or cleaning a tier no result has.
 */
export function requireKnownTask(app: App, task: string, module: string, forceHint: string): void {
  if (app.tasks.has(task)) return;
  throw new UsageError(
    `Unknown task ${JSON.stringify(task)}: the app in ${JSON.stringify(module)} registers ${list([...app.tasks.keys()])}; check the name${forceHint}`,
  );
}

/** --tier T with -A: T must be one of the app's tiers, or "none" (results without a tier). */
export function requireKnownTier(app: App, flag: string, tier: string, module: string): void {
  if (tier === "none" || Object.hasOwn(app.config.tiers, tier)) return;
  throw new UsageError(
    `Unknown tier ${JSON.stringify(tier)} for ${flag}: the app in ${JSON.stringify(module)} has the tiers ${list(Object.keys(app.config.tiers))}, and "none" selects results without a tier`,
  );
}

function list(names: string[]): string {
  if (names.length === 0) return "nothing";
  const sorted = [...names].sort();
  const shown = sorted.slice(0, 40).join(", ");
  return sorted.length > 40 ? `${shown}, … (${sorted.length - 40} more)` : shown;
}

/** Run a name check; when it fails, close the app (no store was opened) before the error goes up. */
export async function closeUnlessKnown(app: App, check: () => void): Promise<void> {
  try {
    check();
  } catch (e) {
    await app.close();
    throw e;
  }
}
