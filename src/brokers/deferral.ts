import type { BrokerCapabilities } from "./broker.js";

/**
 * How a message that must not run before `at` waits, decided only from what the broker
 * declares: a broker with delayed delivery keeps it ("release" at `at`); otherwise the worker
 * keeps it in memory until `at` ("hold"), extending its lease meanwhile when the broker leases.
 */
export type Deferral = { kind: "release"; availableAt: number } | { kind: "hold"; until: number; extendLease: boolean };

export function deferral(capabilities: BrokerCapabilities, at: number): Deferral {
  if (capabilities.delayedDelivery) return { kind: "release", availableAt: at };
  return { kind: "hold", until: at, extendLease: capabilities.delivery === "lease" };
}

/** What release() may be asked for a message due at `at` that the worker gives back early (shutdown): `at` where the broker can delay, else now. */
export function releaseAt(capabilities: BrokerCapabilities, at: number): number | null {
  return capabilities.delayedDelivery ? at : null;
}
