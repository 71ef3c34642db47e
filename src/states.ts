/**
 * Task states. The first seven are Celery's and appear on the wire; EXPIRED is Ebb's own and
 * is never written to a store: it is what Ebb reports for a result that existed and whose
 * lifetime has passed (Celery would report PENDING, celery/celery #4450).
 */
export const STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "EXPIRED"] as const;
export type State = (typeof STATES)[number];

/** States a stored result can have on the wire (Celery's). */
export type StoredState = Exclude<State, "EXPIRED">;

/** A result in one of these will not change again. */
export const READY_STATES: ReadonlySet<State> = new Set(["SUCCESS", "FAILURE", "REVOKED", "EXPIRED"]);

export function isReady(state: State): boolean {
  return READY_STATES.has(state);
}

export function isStoredState(value: unknown): value is StoredState {
  return typeof value === "string" && value !== "EXPIRED" && (STATES as readonly string[]).includes(value);
}
