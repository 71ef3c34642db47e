import type { RetentionAction } from "../backends/result-backend.js";
import { ConfigError } from "../errors.js";
import type { Tier } from "./tiers.js";

/**
 * Which lifetime a result gets. Pure: inputs in, decision out. The first rule that is set wins:
 *   1. dynamic  (set inside the handler, or a function of the result/outcome)
 *   2. call     (applyAsync({ resultExpires }))
 *   3. task     (app.task(..., { resultExpires }))
 *   4. tier     (app.task(..., { tier }))
 *   5. global   (createApp({ resultExpires }), default 24h)
 * "Set" means not undefined; null is a setting (never expires). The tier, when the task has
 * one, decides the action (delete or archive) whichever rule gave the lifetime.
 */
export type RetentionSource = "dynamic" | "call" | "task" | "tier" | "global";

export interface RetentionInput {
  dynamicMs?: number | null;
  callMs?: number | null;
  taskMs?: number | null;
  tier?: string;
  globalMs: number | null;
  tiers: Readonly<Record<string, Tier>>;
}

export interface RetentionDecision {
  lifetimeMs: number | null;
  tier: string | null;
  action: RetentionAction;
  source: RetentionSource;
}

export function decideRetention(input: RetentionInput): RetentionDecision {
  const tier = input.tier === undefined ? undefined : lookupTier(input.tier, input.tiers);
  const tierName = input.tier ?? null;
  const action: RetentionAction = tier?.action ?? "delete";
  const pick = (lifetimeMs: number | null, source: RetentionSource): RetentionDecision => ({ lifetimeMs, tier: tierName, action, source });
  if (input.dynamicMs !== undefined) return pick(input.dynamicMs, "dynamic");
  if (input.callMs !== undefined) return pick(input.callMs, "call");
  if (input.taskMs !== undefined) return pick(input.taskMs, "task");
  if (tier) return pick(tier.expiresMs, "tier");
  return pick(input.globalMs, "global");
}

export function lookupTier(name: string, tiers: Readonly<Record<string, Tier>>): Tier {
  const tier = Object.hasOwn(tiers, name) ? tiers[name] : undefined;
  if (!tier)
    throw new ConfigError(
      `Unknown tier "${name}"; known tiers: ${Object.keys(tiers).join(", ")}. Define it in createApp({ tiers: { "${name}": { expires: "30d", action: "delete" } } })`,
    );
  return tier;
}
