// The wire protocol of DESIGN §6 (plus the API's extra fields), as TypeScript types.
// Everything the server sends is parsed defensively: an unknown frame is ignored, never thrown.

export type MessageRole = "user" | "assistant";
export type MessageStatus = "complete" | "streaming" | "error" | "cancelled" | "interrupted";

export type ErrorCode =
  | "invalid_message"
  | "thread_not_found"
  | "thread_busy"
  | "too_large"
  | "unauthorized"
  | "agent_offline"
  | "agent_error"
  | "timeout"
  | "cancelled"
  | "interrupted";

export const AGENT_OFFLINE_MESSAGE = "Agent is offline. Check the Docker sandbox.";

/** Error codes that end a running turn; the others refuse a request and leave any turn alone. */
export const TURN_ENDING_CODES: ReadonlySet<string> = new Set([
  "agent_offline",
  "agent_error",
  "timeout",
  "cancelled",
  "interrupted",
]);

export function statusForErrorCode(code: string): MessageStatus {
  if (code === "cancelled") return "cancelled";
  if (code === "interrupted") return "interrupted";
  return "error";
}

export interface ToolCall {
  toolUseId: string;
  name: string;
  input: unknown;
  output?: string;
  isError?: boolean;
  /** Position in the message content where the tool ran. */
  offset: number;
}

export interface MessageMeta {
  costUsd?: number;
  durationMs?: number;
  tools?: ToolCall[];
}

export interface Thread {
  id: string;
  title: string;
  claudeSessionId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface StoredMessage {
  id: string;
  threadId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  createdAt: string;
  error?: string | null;
  meta?: MessageMeta | null;
}

// --- client -> server ---------------------------------------------------------------------------

export type ClientRequest =
  | { type: "message"; threadId: string; content: string }
  | { type: "cancel"; threadId: string }
  | { type: "resume"; threadId: string; afterSeq: number };

// --- server -> client ---------------------------------------------------------------------------

export interface StartedEvent {
  type: "started";
  threadId: string;
  turnId: string;
  userMessageId: string;
  messageId: string;
}
export interface TokenEvent {
  type: "token";
  threadId: string;
  turnId: string;
  seq: number;
  text: string;
}
export interface ToolEvent {
  type: "tool";
  threadId: string;
  turnId: string;
  seq: number;
  toolUseId: string;
  name: string;
  input: unknown;
}
export interface ToolResultEvent {
  type: "tool_result";
  threadId: string;
  turnId: string;
  seq: number;
  toolUseId: string;
  output: string;
  isError: boolean;
}
export interface StatusEvent {
  type: "status";
  threadId: string;
  turnId: string;
  seq: number;
  message: string;
}
export interface TitleEvent {
  type: "title";
  threadId: string;
  title: string;
}
export interface DoneEvent {
  type: "done";
  threadId: string;
  turnId: string;
  seq: number;
  messageId: string;
  sessionId?: string | null;
  costUsd?: number | null;
  durationMs?: number | null;
}
export interface ErrorEvent {
  type: "error";
  threadId?: string | null;
  code: ErrorCode | string;
  message: string;
  turnId?: string | null;
  seq?: number | null;
  messageId?: string | null;
}

export type ServerEvent =
  | StartedEvent
  | TokenEvent
  | ToolEvent
  | ToolResultEvent
  | StatusEvent
  | TitleEvent
  | DoneEvent
  | ErrorEvent;

const SERVER_TYPES = new Set(["started", "token", "tool", "tool_result", "status", "title", "done", "error"]);

/** Parse one text frame; null for anything that is not a server event we know. */
export function parseServerEvent(frame: string): ServerEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !SERVER_TYPES.has(type)) return null;
  return value as ServerEvent;
}
