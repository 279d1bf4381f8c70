// The open thread as the page shows it: stored history merged with live thread and turn events.
// A pure reducer, so every rule (dedupe by seq, resume rebuild, queue order, approvals, drafts never
// lost) is unit-tested.

import { approvalFrom, closedWith, withAnswer, withAnswering, withApproval, type ApprovalItem } from "./approvals";
import {
  emptyAssistant,
  errorOf,
  fromStored,
  isQueued,
  lastStreamingReply,
  mapMessage,
  ordered,
  PLACEHOLDER,
  type ChatMessage,
} from "./chatMessage";
import { statusForErrorCode } from "./frames";
import { applyQueued, applyStarted, applyUnqueued, applyWatching } from "./threadEvents";
import { AGENT_OFFLINE_MESSAGE, type Decision, type Resolution, type ServerEvent, type StoredMessage, type ToolCall } from "./protocol";
import { acceptSeq, FRESH_CURSOR, type TurnCursor } from "./resume";
import { draftKey } from "./draftStore";

export type { ChatMessage } from "./chatMessage";
export { fromStored, isQueued } from "./chatMessage";

export interface ActiveTurn {
  /** The assistant message being written (a placeholder id until the turn's message is known). */
  messageId: string;
  cursor: TurnCursor;
  /**
   * True when the message's text came from the store while still streaming (reload, thread switch):
   * the stored text is a partial flush, so the replay from seq 0 replaces it instead of appending.
   */
  replaceOnReplay: boolean;
}

export interface Notice {
  code: string;
  message: string;
}

export interface ChatState {
  threadId: string | null;
  historyLoaded: boolean;
  messages: ChatMessage[];
  turn: ActiveTurn | null;
  /** The text of a message sent and not yet acknowledged, so a refusal can give it back. */
  pending: { localId: string; content: string } | null;
  /** Unsent input per thread: nothing the user wrote is ever lost, also across thread switches. */
  drafts: Record<string, string>;
  notice: Notice | null;
  /** An event named a message this page has not read (another tab's): re-read the stored messages. */
  stale: boolean;
}

export type ChatAction =
  /** A thread opens, or (null) the unsaved new conversation. */
  | { type: "open"; threadId: string | null }
  | { type: "history"; threadId: string; messages: StoredMessage[] }
  | { type: "draft"; threadId: string; text: string }
  | { type: "send"; threadId: string; localId: string; content: string; createdAt: string }
  | { type: "event"; event: ServerEvent }
  /** This page answered an approval request (the answer that wins comes back as `approval_answered`). */
  | { type: "answer"; requestId: string; decision: Decision }
  | { type: "connection_lost" }
  /** The gateway has no turn to resume: the store is the truth; stop waiting for events. */
  | { type: "resume_failed"; threadId: string }
  /** Something to tell the user that came from elsewhere than the socket (an HTTP refusal). */
  | { type: "notice"; notice: Notice }
  | { type: "dismiss_notice" };

export const initialChatState: ChatState = {
  threadId: null,
  historyLoaded: false,
  messages: [],
  turn: null,
  pending: null,
  drafts: {},
  notice: null,
  stale: false,
};

/** What a request still waiting for a person becomes when its turn ends with this code. */
const APPROVAL_END: Record<string, Resolution> = { cancelled: "cancelled", interrupted: "interrupted" };

/** The unsent text of a thread, or (null) of the unsaved new conversation. */
export function draftOf(state: ChatState, threadId: string | null): string {
  return state.drafts[draftKey(threadId)] ?? "";
}

/** A reply is being written (Stop applies), or a send waits for its answer. */
export function isBusy(state: ChatState): boolean {
  return state.turn !== null || state.pending !== null;
}

/** A new message can be sent: while a reply is written it is queued; one unanswered send at a time. */
export function canSend(state: ChatState): boolean {
  return state.threadId !== null && state.pending === null;
}

/** Queued messages in the order they will start (position 1 = next). */
export function queuedMessages(state: ChatState): ChatMessage[] {
  return state.messages.filter(isQueued);
}

/** Approval requests of the running reply that still wait for a person. */
export function waitingApprovals(state: ChatState): ApprovalItem[] {
  const turn = state.turn;
  const reply = turn ? state.messages.find((m) => m.id === turn.messageId) : undefined;
  return reply ? reply.approvals.filter((a) => a.decision === null) : [];
}

function withDraft(state: ChatState, threadId: string, text: string): Record<string, string> {
  return { ...state.drafts, [threadId]: text };
}

/** Put refused text back in front of whatever the user typed meanwhile. */
function restoreDraft(state: ChatState, threadId: string, content: string): Record<string, string> {
  const current = draftOf(state, threadId);
  const text = current.trim() === "" ? content : `${content}\n${current}`;
  return withDraft(state, threadId, text);
}

/** The store keeps no approval requests: a reply this page saw ask keeps its cards (and their answers). */
function keepApprovals(state: ChatState, incoming: ChatMessage[]): ChatMessage[] {
  const asked = new Map(state.messages.filter((m) => m.approvals.length > 0).map((m) => [m.id, m.approvals]));
  if (asked.size === 0) return incoming;
  return incoming.map((m) => (m.approvals.length === 0 && asked.has(m.id) ? { ...m, approvals: asked.get(m.id)! } : m));
}

function applyHistory(state: ChatState, stored: StoredMessage[]): ChatState {
  const incoming = keepApprovals(state, stored.map(fromStored));
  const done = (messages: ChatMessage[], turn: ActiveTurn | null): ChatState => ({
    ...state,
    historyLoaded: true,
    stale: false,
    messages: ordered(keepPending(state, messages)),
    turn,
  });
  const turn = state.turn;
  if (turn === null) {
    const streaming = lastStreamingReply(incoming);
    return done(incoming, streaming ? { messageId: streaming.id, cursor: FRESH_CURSOR, replaceOnReplay: true } : null);
  }
  // A live turn is ahead of the stored flush: keep the live copy of its message unless the store says
  // the turn already ended (then we missed its end and the store is the truth).
  const live = state.messages.find((m) => m.id === turn.messageId);
  const placeholder = turn.messageId.startsWith(PLACEHOLDER);
  const storedTurn = placeholder ? lastStreamingReply(incoming) : incoming.find((m) => m.id === turn.messageId);
  if (storedTurn && storedTurn.status !== "streaming") return done(incoming, null);
  if (!storedTurn) return done(live ? [...incoming, live] : incoming, turn);
  if (live && turn.cursor.lastSeq > 0) {
    const merged = incoming.map((m) => (m.id === storedTurn.id ? { ...live, id: storedTurn.id } : m));
    return done(merged, { ...turn, messageId: storedTurn.id });
  }
  // Nothing applied yet: show the stored text until the events from seq 1 replace it.
  return done(incoming, { ...turn, messageId: storedTurn.id, replaceOnReplay: true });
}

function keepPending(state: ChatState, messages: ChatMessage[]): ChatMessage[] {
  const pending = state.pending;
  if (!pending) return messages;
  const local = state.messages.find((m) => m.id === pending.localId);
  return local ? [...messages, local] : messages;
}

type SeqEvent =
  | Extract<ServerEvent, { type: "token" | "tool" | "tool_result" | "status" | "done" | "approval" | "approval_answered" }>
  | (Extract<ServerEvent, { type: "error" }> & { turnId: string; seq: number });

function applyTurnEvent(state: ChatState, e: SeqEvent): ChatState {
  const turn = state.turn;
  if (!turn) return state;
  const verdict = acceptSeq(turn.cursor, e.turnId, e.seq);
  if (!verdict.apply) return { ...state, turn: { ...turn, cursor: verdict.cursor } };

  const reset = turn.replaceOnReplay;
  const nextTurn: ActiveTurn = { ...turn, cursor: verdict.cursor, replaceOnReplay: false };
  let messages = state.messages;
  let replyId = turn.messageId;
  if ((e.type === "done" || e.type === "error") && e.messageId && replyId.startsWith(PLACEHOLDER)) {
    messages = mapMessage(messages, replyId, (m) => ({ ...m, id: e.messageId! }));
    replyId = e.messageId;
  }
  if (!messages.some((m) => m.id === replyId)) messages = ordered([...messages, emptyAssistant(replyId)]);
  const update = (f: (m: ChatMessage) => ChatMessage): ChatMessage[] =>
    mapMessage(messages, replyId, (m) => f(reset ? { ...m, content: "", tools: [], approvals: [], statusLine: null } : m));
  const next = (f: (m: ChatMessage) => ChatMessage): ChatState => ({ ...state, turn: nextTurn, messages: update(f) });

  switch (e.type) {
    case "token":
      // Text flows again: a status such as "waiting for a worker" or "API retrying" is over.
      return next((m) => ({ ...m, content: m.content + e.text, statusLine: null }));
    case "tool": {
      const call: ToolCall = { toolUseId: e.toolUseId, name: e.name, input: e.input, offset: 0 };
      return next((m) => ({ ...m, tools: [...m.tools, { ...call, offset: m.content.length }] }));
    }
    case "tool_result":
      return next((m) => ({
        ...m,
        tools: m.tools.map((t) => (t.toolUseId === e.toolUseId ? { ...t, output: e.output, isError: e.isError } : t)),
      }));
    case "status":
      return next((m) => ({ ...m, statusLine: e.message }));
    case "approval":
      return next((m) => ({ ...m, approvals: withApproval(m.approvals, approvalFrom(e, m.content.length)) }));
    case "approval_answered":
      return next((m) => ({ ...m, approvals: withAnswer(m.approvals, e) }));
    case "done":
      return {
        ...state,
        turn: null,
        messages: update((m) => ({
          ...m,
          status: "complete",
          statusLine: null,
          costUsd: e.costUsd ?? null,
          durationMs: e.durationMs ?? null,
        })),
      };
    case "error":
      return { ...state, turn: null, messages: update(endedWith(e.code, e.message)) };
  }
}

function errorText(code: string, message: string): string {
  return code === "agent_offline" ? AGENT_OFFLINE_MESSAGE : message;
}

function endedWith(code: string, message: string): (m: ChatMessage) => ChatMessage {
  return (m) => {
    const status = statusForErrorCode(code);
    return {
      ...m,
      status,
      error: errorOf(status, errorText(code, message)),
      statusLine: null,
      approvals: closedWith(m.approvals, APPROVAL_END[code] ?? null),
    };
  };
}

/**
 * An error that names a turn ends it (the reply keeps its text); one that names none refused a request
 * and nothing ran: a send's text goes back into the input, a lost approval answer gets its buttons back.
 */
function applyError(state: ChatState, e: Extract<ServerEvent, { type: "error" }>): ChatState {
  const turn = state.turn;
  if (e.turnId != null && turn && (turn.cursor.turnId === null || e.turnId === turn.cursor.turnId)) {
    if (typeof e.seq === "number") return applyTurnEvent(state, { ...e, turnId: e.turnId, seq: e.seq });
    return { ...state, turn: null, messages: mapMessage(state.messages, turn.messageId, endedWith(e.code, e.message)) };
  }
  const notice: Notice = { code: e.code, message: errorText(e.code, e.message) };
  const messages = state.messages.map((m) =>
    m.approvals.some((a) => a.answering) ? { ...m, approvals: m.approvals.map((a) => ({ ...a, answering: null })) } : m,
  );
  const pending = state.pending;
  if (pending && state.threadId && e.turnId == null) {
    return {
      ...state,
      pending: null,
      messages: messages.filter((m) => m.id !== pending.localId),
      drafts: restoreDraft(state, state.threadId, pending.content),
      notice,
    };
  }
  if (pending && !turn) {
    // A turn was made for the message (so it is stored) and ended before this page heard it start.
    return { ...state, pending: null, messages: mapMessage(messages, pending.localId, (m) => ({ ...m, pending: false })), notice };
  }
  return { ...state, messages, notice };
}

function applyEvent(state: ChatState, e: ServerEvent): ChatState {
  if (e.type === "title") return state;
  const threadId = e.threadId ?? null;
  // Errors without a thread (e.g. a frame the gateway could not read) concern the pending send.
  if (threadId !== null && threadId !== state.threadId) return state;
  switch (e.type) {
    case "started":
      return applyStarted(state, e);
    case "queued":
      return applyQueued(state, e);
    case "unqueued":
      return applyUnqueued(state, e);
    case "watching":
      return applyWatching(state, e);
    case "error":
      return applyError(state, e);
    default:
      return applyTurnEvent(state, e);
  }
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "open":
      if (state.threadId === action.threadId) return state;
      return { ...initialChatState, drafts: state.drafts, threadId: action.threadId };
    case "history":
      if (action.threadId !== state.threadId) return state;
      return applyHistory(state, action.messages);
    case "draft":
      return { ...state, drafts: withDraft(state, action.threadId, action.text) };
    case "send": {
      if (action.threadId !== state.threadId || !canSend(state)) return state;
      const message: ChatMessage = {
        ...emptyAssistant(action.localId),
        role: "user",
        content: action.content,
        status: "complete",
        createdAt: action.createdAt,
        pending: true,
      };
      return {
        ...state,
        messages: [...state.messages, message],
        pending: { localId: action.localId, content: action.content },
        drafts: withDraft(state, action.threadId, ""),
        notice: null,
      };
    }
    case "event":
      return applyEvent(state, action.event);
    case "answer":
      return {
        ...state,
        messages: state.messages.map((m) =>
          m.approvals.some((a) => a.requestId === action.requestId)
            ? { ...m, approvals: withAnswering(m.approvals, action.requestId, action.decision) }
            : m,
        ),
      };
    case "connection_lost": {
      // A send not yet acknowledged may or may not have arrived: give the text back; the history
      // reloaded on reconnect shows it if it was stored. A running turn is resumed instead.
      const pending = state.pending;
      if (!pending || !state.threadId) return state;
      return {
        ...state,
        pending: null,
        messages: state.messages.filter((m) => m.id !== pending.localId),
        drafts: restoreDraft(state, state.threadId, pending.content),
      };
    }
    case "resume_failed":
      if (action.threadId !== state.threadId || !state.turn) return state;
      return { ...state, turn: null };
    case "notice":
      return { ...state, notice: action.notice };
    case "dismiss_notice":
      return { ...state, notice: null };
  }
}
