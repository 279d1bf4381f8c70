// Thread events (not numbered, not replayed): a turn starts, a message is queued or removed, and the
// answer to `watch`. Part of the chat reducer (chatState.ts).

import {
  emptyAssistant,
  isQueued,
  mapMessage,
  ordered,
  PLACEHOLDER,
  type ChatMessage,
} from "./chatMessage";
import type { ActiveTurn, ChatState } from "./chatState";
import type { ServerEvent } from "./protocol";

/** Whether an answer names this page's unanswered send (another tab's arrives without our id). */
function answersPending(state: ChatState, clientMessageId: string | null | undefined): boolean {
  return state.pending !== null && clientMessageId != null && clientMessageId === state.pending.localId;
}

/** A turn starts on the thread (this page's message, a queued one, or another tab's). */
export function applyStarted(state: ChatState, e: Extract<ServerEvent, { type: "started" }>): ChatState {
  let messages = state.messages;
  let pending = state.pending;
  const ours = answersPending(state, e.clientMessageId);
  let stale = state.stale;
  const asStarted = (m: ChatMessage): ChatMessage => ({ ...m, id: e.userMessageId, status: "complete", pending: false });
  const known = messages.find((m) => m.id === e.userMessageId);
  if (known) {
    messages = mapMessage(messages, e.userMessageId, asStarted);
    if (pending && !isQueued(known)) {
      // The store was re-read after this page's send: it already shows the message; drop the local copy.
      const localId = pending.localId;
      messages = messages.filter((m) => m.id !== localId);
      pending = null;
    }
  } else if (pending && ours) {
    messages = mapMessage(messages, pending.localId, asStarted);
    pending = null;
  } else {
    stale = true; // another tab's message: its text is in the store
  }
  const previous = state.turn;
  if (previous && previous.cursor.turnId !== null && previous.cursor.turnId !== e.turnId) stale = true;
  const placeholderId = `${PLACEHOLDER}${e.turnId}`;
  messages = mapMessage(messages, placeholderId, (m) => ({ ...m, id: e.messageId }));
  if (!messages.some((m) => m.id === e.messageId)) messages = [...messages, emptyAssistant(e.messageId)];
  const sameTurn = previous !== null && (previous.messageId === e.messageId || previous.messageId === placeholderId);
  const turn: ActiveTurn = sameTurn
    ? { ...previous, messageId: e.messageId, cursor: { turnId: e.turnId, lastSeq: previous.cursor.lastSeq } }
    : { messageId: e.messageId, cursor: { turnId: e.turnId, lastSeq: 0 }, replaceOnReplay: false };
  return { ...state, messages: ordered(messages), turn, pending, stale, notice: pending ? state.notice : null };
}

export function applyQueued(state: ChatState, e: Extract<ServerEvent, { type: "queued" }>): ChatState {
  const pending = state.pending;
  const ours = pending !== null && answersPending(state, e.clientMessageId);
  if (state.messages.some((m) => m.id === e.messageId)) {
    if (!ours) return state;
    // The store was re-read after this page's send: it already shows the queued message; drop the local copy.
    return { ...state, messages: state.messages.filter((m) => m.id !== pending.localId), pending: null, notice: null };
  }
  if (!ours) return { ...state, stale: true };
  const messages = mapMessage(state.messages, pending.localId, (m) => ({
    ...m,
    id: e.messageId,
    status: "queued",
    pending: false,
  }));
  return { ...state, messages: ordered(messages), pending: null, notice: null };
}

export function applyUnqueued(state: ChatState, e: Extract<ServerEvent, { type: "unqueued" }>): ChatState {
  const messages = state.messages.filter((m) => !(m.id === e.messageId && isQueued(m)));
  return messages.length === state.messages.length ? state : { ...state, messages };
}

/** The answer to `watch`: the turn running now (resume it), or none. */
export function applyWatching(state: ChatState, e: Extract<ServerEvent, { type: "watching" }>): ChatState {
  const turn = state.turn;
  if (e.turnId === null) {
    // Nothing runs: a reply the store still shows streaming ended meanwhile; the store will say how.
    return turn ? { ...state, turn: null, stale: true } : state;
  }
  if (turn && (turn.cursor.turnId === null || turn.cursor.turnId === e.turnId)) {
    return { ...state, turn: { ...turn, cursor: { turnId: e.turnId, lastSeq: turn.cursor.lastSeq } } };
  }
  // A turn this page has not seen start (it started after the store was read): follow it under a
  // placeholder until the store or `done` names its message.
  const id = `${PLACEHOLDER}${e.turnId}`;
  const messages = state.messages.some((m) => m.id === id) ? state.messages : [...state.messages, emptyAssistant(id)];
  return {
    ...state,
    messages: ordered(messages),
    turn: { messageId: id, cursor: { turnId: e.turnId, lastSeq: 0 }, replaceOnReplay: false },
    stale: true,
  };
}
