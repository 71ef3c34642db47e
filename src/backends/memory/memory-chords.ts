import type { Clock } from "../../clock.js";
import type { ChordCountOptions, ChordPart, ChordStore } from "../chord-store.js";

interface Counting {
  size: number | null;
  /** Task id → part: a redelivered part is counted once. */
  parts: Map<string, ChordPart>;
  expiresAt: number | null;
}

/** Chord counting in this process (tests, single-process apps); state untouched past expiresMs is dropped. */
export class MemoryChords implements ChordStore {
  private readonly groups = new Map<string, Counting>();

  constructor(private readonly clock: Clock) {}

  async setChordSize(groupId: string, size: number, options: ChordCountOptions): Promise<void> {
    const c = this.counting(groupId, options);
    c.size = size;
  }

  async chordPartReturned(groupId: string, part: ChordPart, options: ChordCountOptions): Promise<ChordPart[] | null> {
    const c = this.counting(groupId, options);
    if (!c.parts.has(part.taskId)) c.parts.set(part.taskId, { ...part, result: structuredClone(part.result) });
    if (c.size === null || c.parts.size !== c.size) return null;
    return [...c.parts.values()].sort(byGroupIndex).map((p) => ({ ...p, result: structuredClone(p.result) }));
  }

  async chordCompleted(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  private counting(groupId: string, options: ChordCountOptions): Counting {
    const now = this.clock();
    for (const [id, c] of this.groups) if (c.expiresAt !== null && c.expiresAt <= now) this.groups.delete(id);
    let c = this.groups.get(groupId);
    if (!c) {
      c = { size: null, parts: new Map(), expiresAt: null };
      this.groups.set(groupId, c);
    }
    c.expiresAt = options.expiresMs === null ? null : now + options.expiresMs;
    return c;
  }
}

/** Header order: by group_index, parts without one last (Celery scores them +inf). */
export function byGroupIndex(a: ChordPart, b: ChordPart): number {
  return (a.groupIndex ?? Number.POSITIVE_INFINITY) - (b.groupIndex ?? Number.POSITIVE_INFINITY) || 0;
}
