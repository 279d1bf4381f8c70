// Where a running turn's event stream stands for this page, so that a reconnect can ask the
// gateway for exactly what is missing (`resume` with `afterSeq`) and duplicates are dropped.

export interface TurnCursor {
  /** The turn the applied events belong to; null until the first event names it (e.g. after a reload). */
  turnId: string | null;
  /** The highest `seq` applied; 0 when nothing has been applied yet. */
  lastSeq: number;
}

export const FRESH_CURSOR: TurnCursor = { turnId: null, lastSeq: 0 };

export interface SeqVerdict {
  cursor: TurnCursor;
  /** True when the event is new and must be applied; false for a repeat or a stale turn's event. */
  apply: boolean;
}

/** Decide whether an event of `turnId` with `seq` is applied, and move the cursor if so. */
export function acceptSeq(cursor: TurnCursor, turnId: string, seq: number): SeqVerdict {
  if (cursor.turnId !== null && cursor.turnId !== turnId) {
    // Only one turn runs per thread; events of another turn are left-overs of an earlier one.
    return { cursor, apply: false };
  }
  if (!Number.isFinite(seq) || seq <= cursor.lastSeq) {
    return { cursor: { turnId, lastSeq: cursor.lastSeq }, apply: false };
  }
  return { cursor: { turnId, lastSeq: seq }, apply: true };
}

/** The `afterSeq` to send in a resume request. */
export function resumeAfterSeq(cursor: TurnCursor): number {
  return cursor.lastSeq;
}
