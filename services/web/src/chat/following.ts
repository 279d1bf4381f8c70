// Which thread this connection follows, and how it catches up: the page reads the thread's stored
// messages, then sends `watch` (again after every reconnect and every opening of a thread); when the
// answer, `watching`, names a running turn, it sends `resume` with the last `seq` it applied.

import type { ChatState } from "./chatState";
import type { ClientRequest, ResumeRequest, WatchingEvent } from "./protocol";
import { resumeAfterSeq } from "./resume";

/** The `resume` to send after `watching` (given the state with `watching` applied), or null. */
export function resumeFor(state: ChatState, watching: WatchingEvent): ResumeRequest | null {
  const turn = state.turn;
  if (watching.turnId === null || watching.threadId !== state.threadId || !turn) return null;
  const afterSeq = turn.cursor.turnId === watching.turnId ? resumeAfterSeq(turn.cursor) : 0;
  return { type: "resume", threadId: watching.threadId, afterSeq };
}

export interface FollowPoint {
  /** Counts successful connections (a new value: just reconnected). */
  epoch: number;
  open: boolean;
  threadId: string | null;
  /** Counts openings of a thread (switching away and back opens it again). */
  opening: number;
  historyLoaded: boolean;
}

export class ThreadFollower {
  private watched = "";

  constructor(private readonly send: (request: ClientRequest) => boolean) {}

  /** Send `watch` once per connection and opening of the thread, when its stored messages are read. */
  sync(at: FollowPoint): void {
    if (!at.open || at.threadId === null || !at.historyLoaded) return;
    const key = `${at.epoch}:${at.opening}:${at.threadId}`;
    if (key === this.watched) return;
    if (this.send({ type: "watch", threadId: at.threadId })) this.watched = key;
  }

  /** After `watching`: resume the running turn from where this page stands. True when sent. */
  caughtUp(state: ChatState, watching: WatchingEvent): boolean {
    const resume = resumeFor(state, watching);
    return resume !== null && this.send(resume);
  }
}
