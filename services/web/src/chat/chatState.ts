// The open thread as the page shows it: stored history merged with live turn events.
// A pure reducer, so every rule (dedupe by seq, resume rebuild, drafts never lost) is unit-tested.

import {
  AGENT_OFFLINE_MESSAGE,
  type MessageRole,
  type MessageStatus,
  type ServerEvent,
  type StoredMessage,
  type ToolCall,
  TURN_ENDING_CODES,
  statusForErrorCode,
} from "./protocol";
import { acceptSeq, FRESH_CURSOR, type TurnCursor } from "./resume";

export interface ChatMessage {
  id: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  error: string | null;
  createdAt: string;
  costUsd: number | null;
  durationMs: number | null;
  tools: ToolCall[];
  /** The agent's latest status line while streaming (e.g. "API retrying"). */
  statusLine: string | null;
  /** A user message sent but not yet acknowledged by `started`. */
  pending: boolean;
}

export interface ActiveTurn {
  /** The assistant message being written. */
  messageId: string;
  cursor: TurnCursor;
  /**
   * True when the message came from stored history while still streaming (reload, thread switch):
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
}

export type ChatAction =
  | { type: "open"; threadId: string }
  | { type: "history"; threadId: string; messages: StoredMessage[] }
  | { type: "draft"; threadId: string; text: string }
  | { type: "send"; threadId: string; localId: string; content: string; createdAt: string }
  | { type: "event"; event: ServerEvent }
  | { type: "connection_lost" }
  /** The gateway has no turn to resume: the store is the truth; stop waiting for events. */
  | { type: "resume_failed"; threadId: string }
  | { type: "dismiss_notice" };

export const initialChatState: ChatState = {
  threadId: null,
  historyLoaded: false,
  messages: [],
  turn: null,
  pending: null,
  drafts: {},
  notice: null,
};

/** Errors that refuse a request before anything ran: the sent text goes back into the input. */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  "thread_busy",
  "invalid_message",
  "too_large",
  "thread_not_found",
  "unauthorized",
]);

export function fromStored(m: StoredMessage): ChatMessage {
  return {
    id: m.id,
    role: m.role,
    content: m.content ?? "",
    status: m.status,
    error: m.error ?? null,
    createdAt: m.createdAt,
    costUsd: m.meta?.costUsd ?? null,
    durationMs: m.meta?.durationMs ?? null,
    tools: m.meta?.tools ? m.meta.tools.map((t) => ({ ...t })) : [],
    statusLine: null,
    pending: false,
  };
}

function emptyAssistant(id: string): ChatMessage {
  return {
    id,
    role: "assistant",
    content: "",
    status: "streaming",
    error: null,
    createdAt: new Date().toISOString(),
    costUsd: null,
    durationMs: null,
    tools: [],
    statusLine: null,
    pending: false,
  };
}

export function draftOf(state: ChatState, threadId: string | null): string {
  return threadId ? (state.drafts[threadId] ?? "") : "";
}

export function isBusy(state: ChatState): boolean {
  return state.turn !== null || state.pending !== null;
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

function mapMessage(state: ChatState, id: string, f: (m: ChatMessage) => ChatMessage): ChatMessage[] {
  return state.messages.map((m) => (m.id === id ? f(m) : m));
}

function applyHistory(state: ChatState, stored: StoredMessage[]): ChatState {
  const incoming = stored.map(fromStored);
  const turn = state.turn;
  if (turn !== null) {
    // A live turn is ahead of the stored flush: keep the live copy of its message unless the
    // store says the turn already ended (then we missed its end and the store is the truth).
    const live = state.messages.find((m) => m.id === turn.messageId);
    const storedTurn = incoming.find((m) => m.id === turn.messageId);
    if (storedTurn && storedTurn.status !== "streaming") {
      return { ...state, historyLoaded: true, messages: keepPending(state, incoming), turn: null };
    }
    if (live && (turn.cursor.lastSeq > 0 || !storedTurn)) {
      const merged = incoming.map((m) => (m.id === turn.messageId ? live : m));
      if (!storedTurn) merged.push(live);
      return { ...state, historyLoaded: true, messages: keepPending(state, merged) };
    }
    return { ...state, historyLoaded: true, messages: keepPending(state, incoming) };
  }
  const streaming = [...incoming].reverse().find((m) => m.role === "assistant" && m.status === "streaming");
  return {
    ...state,
    historyLoaded: true,
    messages: keepPending(state, incoming),
    turn: streaming ? { messageId: streaming.id, cursor: FRESH_CURSOR, replaceOnReplay: true } : null,
  };
}

function keepPending(state: ChatState, messages: ChatMessage[]): ChatMessage[] {
  const pending = state.pending;
  if (!pending) return messages;
  const local = state.messages.find((m) => m.id === pending.localId);
  return local ? [...messages, local] : messages;
}

function applyStarted(state: ChatState, e: Extract<ServerEvent, { type: "started" }>): ChatState {
  let messages = state.messages;
  if (state.pending) {
    const localId = state.pending.localId;
    const known = messages.some((m) => m.id === e.userMessageId);
    messages = known
      ? messages.filter((m) => m.id !== localId)
      : messages.map((m) => (m.id === localId ? { ...m, id: e.userMessageId, pending: false } : m));
  }
  if (!messages.some((m) => m.id === e.messageId)) {
    messages = [...messages, emptyAssistant(e.messageId)];
  }
  const sameTurn = state.turn?.messageId === e.messageId;
  const turn: ActiveTurn = sameTurn && state.turn
    ? { ...state.turn, cursor: { turnId: e.turnId, lastSeq: state.turn.cursor.lastSeq } }
    : { messageId: e.messageId, cursor: { turnId: e.turnId, lastSeq: 0 }, replaceOnReplay: false };
  return { ...state, messages, turn, pending: null, notice: null };
}

type SeqEvent =
  | Extract<ServerEvent, { type: "token" | "tool" | "tool_result" | "status" | "done" }>
  | (Extract<ServerEvent, { type: "error" }> & { turnId: string; seq: number });

function applyTurnEvent(state: ChatState, e: SeqEvent): ChatState {
  const turn = state.turn;
  if (!turn) return state;
  const verdict = acceptSeq(turn.cursor, e.turnId, e.seq);
  if (!verdict.apply) return { ...state, turn: { ...turn, cursor: verdict.cursor } };

  const reset = turn.replaceOnReplay;
  const nextTurn: ActiveTurn = { ...turn, cursor: verdict.cursor, replaceOnReplay: false };
  let messages = state.messages;
  if (!messages.some((m) => m.id === turn.messageId)) messages = [...messages, emptyAssistant(turn.messageId)];
  const update = (f: (m: ChatMessage) => ChatMessage): ChatMessage[] =>
    messages.map((m) => {
      if (m.id !== turn.messageId) return m;
      const base = reset ? { ...m, content: "", tools: [], statusLine: null } : m;
      return f(base);
    });

  switch (e.type) {
    case "token":
      return { ...state, turn: nextTurn, messages: update((m) => ({ ...m, content: m.content + e.text })) };
    case "tool": {
      const call: ToolCall = { toolUseId: e.toolUseId, name: e.name, input: e.input, offset: 0 };
      return {
        ...state,
        turn: nextTurn,
        messages: update((m) => ({ ...m, tools: [...m.tools, { ...call, offset: m.content.length }] })),
      };
    }
    case "tool_result":
      return {
        ...state,
        turn: nextTurn,
        messages: update((m) => ({
          ...m,
          tools: m.tools.map((t) =>
            t.toolUseId === e.toolUseId ? { ...t, output: e.output, isError: e.isError } : t,
          ),
        })),
      };
    case "status":
      return { ...state, turn: nextTurn, messages: update((m) => ({ ...m, statusLine: e.message })) };
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
      return endWithError(state, turn.messageId, e.code, e.message, update);
  }
}

function errorText(code: string, message: string): string {
  return code === "agent_offline" ? AGENT_OFFLINE_MESSAGE : message;
}

function endWithError(
  state: ChatState,
  messageId: string,
  code: string,
  message: string,
  update?: (f: (m: ChatMessage) => ChatMessage) => ChatMessage[],
): ChatState {
  const f = (m: ChatMessage): ChatMessage => ({
    ...m,
    status: statusForErrorCode(code),
    error: errorText(code, message),
    statusLine: null,
  });
  return { ...state, turn: null, messages: update ? update(f) : mapMessage(state, messageId, f) };
}

function applyError(state: ChatState, e: Extract<ServerEvent, { type: "error" }>): ChatState {
  const turn = state.turn;
  const endsTurn = TURN_ENDING_CODES.has(e.code);
  if (endsTurn && turn && (e.turnId == null || turn.cursor.turnId === null || e.turnId === turn.cursor.turnId)) {
    if (e.turnId != null && typeof e.seq === "number") {
      return applyTurnEvent(state, { ...e, turnId: e.turnId, seq: e.seq });
    }
    return endWithError(state, turn.messageId, e.code, e.message);
  }
  const notice: Notice = { code: e.code, message: errorText(e.code, e.message) };
  const pending = state.pending;
  if (pending && state.threadId && REFUSAL_CODES.has(e.code)) {
    return {
      ...state,
      pending: null,
      messages: state.messages.filter((m) => m.id !== pending.localId),
      drafts: restoreDraft(state, state.threadId, pending.content),
      notice,
    };
  }
  if (pending && endsTurn) {
    // The message was stored (DESIGN §7.1) but no turn could start: keep it, say why.
    return {
      ...state,
      pending: null,
      messages: mapMessage(state, pending.localId, (m) => ({ ...m, pending: false })),
      notice,
    };
  }
  return { ...state, notice };
}

function applyEvent(state: ChatState, e: ServerEvent): ChatState {
  if (e.type === "title") return state;
  const threadId = e.threadId ?? null;
  // Errors without a thread (e.g. a frame the gateway could not read) concern the pending send.
  if (threadId !== null && threadId !== state.threadId) return state;
  switch (e.type) {
    case "started":
      return applyStarted(state, e);
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
      if (action.threadId !== state.threadId || isBusy(state)) return state;
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
    case "dismiss_notice":
      return { ...state, notice: null };
  }
}
