// One message of the open thread as the page shows it, and the rules for the list's order.

import type { ApprovalItem } from "./approvals";
import type { MessageRole, MessageStatus, StoredMessage, ToolCall } from "./protocol";

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
  /** Approval requests of this reply, where the agent asked. */
  approvals: ApprovalItem[];
  /** The agent's latest status line while streaming (e.g. "API retrying"). */
  statusLine: string | null;
  /** A user message sent but not yet acknowledged by `started` or `queued`. */
  pending: boolean;
}

/** The id of a reply whose message id is not known yet (a turn followed from its middle). */
export const PLACEHOLDER = "live-reply:";

/** The status says "Stopped"; a stop's sentence would only say it twice. */
export function errorOf(status: MessageStatus, error: string | null | undefined): string | null {
  return status === "cancelled" ? null : (error ?? null);
}

export function fromStored(m: StoredMessage): ChatMessage {
  return {
    id: m.id,
    role: m.role,
    content: m.content ?? "",
    status: m.status,
    error: errorOf(m.status, m.error),
    createdAt: m.createdAt,
    costUsd: m.meta?.costUsd ?? null,
    durationMs: m.meta?.durationMs ?? null,
    tools: m.meta?.tools ? m.meta.tools.map((t) => ({ ...t })) : [],
    approvals: [],
    statusLine: null,
    pending: false,
  };
}

export function emptyAssistant(id: string): ChatMessage {
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
    approvals: [],
    statusLine: null,
    pending: false,
  };
}

export function isQueued(m: ChatMessage): boolean {
  return m.role === "user" && m.status === "queued";
}

export function mapMessage(messages: ChatMessage[], id: string, f: (m: ChatMessage) => ChatMessage): ChatMessage[] {
  return messages.map((m) => (m.id === id ? f(m) : m));
}

/** The conversation first, then the queue in order, then a send not yet answered. */
export function ordered(messages: ChatMessage[]): ChatMessage[] {
  const rank = (m: ChatMessage) => (m.pending ? 2 : isQueued(m) ? 1 : 0);
  return messages
    .map((m, i) => [m, i] as const)
    .sort(([a, i], [b, j]) => rank(a) - rank(b) || i - j)
    .map(([m]) => m);
}

export function lastStreamingReply(messages: ChatMessage[]): ChatMessage | undefined {
  return [...messages].reverse().find((m) => m.role === "assistant" && m.status === "streaming");
}
