import type { StoredState } from "../states.js";

/**
 * The optional chord capability of a result backend: counting a chord's header parts as they
 * finish, so the worker that finishes the last one sends the body. A backend declares it with
 * `chords` (see result-backend.ts); a backend without it (null or absent) cannot run chords, and
 * the worker then fails the chord's body with a ChordError saying so rather than never sending it.
 *
 * Celery's Redis backend is the model (celery/backends/redis.py, on_chord_part_return and
 * set_chord_size): a client sets the header's size when it applies the chord; each finished part
 * adds [1, task id, state, result] under the group; the part that makes the count reach the size
 * gets every part back, in group_index order, and the body is sent with their results.
 * Adding the same part twice (a redelivered message) counts it once, so at-least-once delivery
 * completes a chord once, unless a crash falls between sending the body and chordCompleted().
 */
export interface ChordPart {
  taskId: string;
  state: StoredState;
  /** The part's JSON result; for FAILURE/REVOKED Celery's exception dict {exc_type, exc_message, exc_module}. */
  result: unknown;
  /** Its place in the header (Celery's group_index); null sorts last. */
  groupIndex: number | null;
}

export interface ChordCountOptions {
  /** How long the counting state lives untouched (Celery: result_expires); null = until the chord completes. */
  expiresMs: number | null;
}

export interface ChordStore {
  /** The header of group `groupId` has `size` parts (Celery's set_chord_size). */
  setChordSize(groupId: string, size: number, options: ChordCountOptions): Promise<void>;
  /**
   * Record one finished header part, atomically with the count. Returns every part, in header
   * order, when this part completed the header; null while parts are missing, or when no size
   * was set for the group (a chord already completed and forgotten, or a plain group).
   */
  chordPartReturned(groupId: string, part: ChordPart, options: ChordCountOptions): Promise<ChordPart[] | null>;
  /** Drop the group's counting state once its body was sent (or failed). */
  chordCompleted(groupId: string): Promise<void>;
}
