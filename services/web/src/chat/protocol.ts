// The whole protocol as TypeScript types: the WebSocket frames, generated from the Python definitions
// (protocol.generated.ts), and the HTTP bodies the page reads (written here; see docs/protocol.md).
// Helpers that work on frames live in frames.ts.

import type { PermissionMode, ThreadActivity } from "./protocol.generated";

export * from "./protocol.generated";

export type MessageRole = "user" | "assistant";
/** `queued`: a user message sent while a turn ran, waiting for its own turn. */
export type MessageStatus = "complete" | "streaming" | "error" | "cancelled" | "interrupted" | "queued";

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

/** `GET /threads`, `POST /threads`, `PATCH /threads/{id}`. */
export interface Thread {
  id: string;
  title: string;
  claudeSessionId: string | null;
  createdAt: string;
  updatedAt: string;
  /** How the agent asks before it acts in this thread. */
  permissionMode?: PermissionMode;
  /** `waiting`: an approval request waits for a person ("waiting for you"). */
  activity?: ThreadActivity;
  /** A thread made by editing a message of another: that thread and message (it may be deleted since). */
  forkedFrom?: { threadId: string; messageId: string | null } | null;
}

/** `GET /threads/{id}/messages`. */
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
