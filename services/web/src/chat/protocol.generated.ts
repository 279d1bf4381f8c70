// GENERATED from shared/src/sandchat/wire.py (and settings.py's permission modes) by `make protocol`.
// Do not edit: change the Python definitions and regenerate. A test fails when this file drifts.
// The protocol itself is described in docs/protocol.md.

export const MAX_CONTENT_CHARS = 100000;
export const AGENT_OFFLINE_MESSAGE = "Agent is offline. Check the Docker sandbox.";

export type ErrorCode = "invalid_message" | "thread_not_found" | "thread_busy" | "too_large" | "unauthorized" | "agent_offline" | "agent_error" | "timeout" | "cancelled" | "interrupted";
export type Decision = "allow" | "allow_always" | "deny";
export type Resolution = "allow" | "allow_always" | "deny" | "interrupted" | "cancelled" | "expired";
export type PermissionMode = "bypassPermissions" | "acceptEdits" | "default" | "plan";
export type ThreadActivity = "idle" | "running" | "waiting";

/** Send a message: it starts a turn (``started``), or waits behind the running one (``queued``). */
export interface SendMessageRequest {
  type: "message";
  threadId: string;
  content: string;
  clientMessageId?: string | null;
}

/** Stop the thread's running turn; it ends with an ``error`` frame coded ``cancelled``. */
export interface CancelRequest {
  type: "cancel";
  threadId: string;
}

/** Catch up on the thread's running or last turn: its events after ``after_seq``, then live ones. */
export interface ResumeRequest {
  type: "resume";
  threadId: string;
  afterSeq?: number;
}

/** A person's answer to an approval request; the first answer to a request wins. */
export interface ApproveRequest {
  type: "approve";
  threadId: string;
  requestId: string;
  decision: Decision;
  message?: string | null;
  answers?: Record<string, string> | null;
}

/** Follow a thread: every turn that starts on it, and its queue, from now on. */
export interface WatchRequest {
  type: "watch";
  threadId: string;
}

/**
 * Run the thread's last message again: its reply ended in an error, a stop or an interruption.
 *
 * Answered like a message (``started``, whose ``userMessageId`` is the message run again), or with
 * an error; the failed reply stays in the thread and a new reply follows it.
 */
export interface RetryRequest {
  type: "retry";
  threadId: string;
  clientMessageId?: string | null;
}

/** A turn starts: it answers the user message ``user_message_id`` with the reply ``message_id``. */
export interface StartedEvent {
  type: "started";
  threadId: string;
  turnId: string;
  userMessageId: string;
  messageId: string;
  clientMessageId?: string | null;
}

/** A piece of the reply's text; append it. */
export interface TokenEvent {
  type: "token";
  threadId: string;
  turnId: string;
  seq: number;
  text: string;
}

/** The agent calls a tool, at this point of the text. */
export interface ToolEvent {
  type: "tool";
  threadId: string;
  turnId: string;
  seq: number;
  toolUseId: string;
  name: string;
  input: unknown;
}

/** What a tool call returned. */
export interface ToolResultEvent {
  type: "tool_result";
  threadId: string;
  turnId: string;
  seq: number;
  toolUseId: string;
  output: string;
  isError: boolean;
}

/** A line about the agent's state, e.g. its API is retrying. */
export interface StatusEvent {
  type: "status";
  threadId: string;
  turnId: string;
  seq: number;
  message: string;
}

/** The thread's title changed (after its first message). */
export interface TitleEvent {
  type: "title";
  threadId: string;
  title: string;
}

/** The reply is complete: the last event of its turn. */
export interface DoneEvent {
  type: "done";
  threadId: string;
  turnId: string;
  seq: number;
  messageId: string;
  sessionId: string | null;
  costUsd: number | null;
  durationMs?: number | null;
}

/** A request refused, or a turn ended badly (then the last event of the turn, with its ``seq``). */
export interface ErrorEvent {
  type: "error";
  threadId: string | null;
  code: ErrorCode;
  message: string;
  turnId?: string | null;
  seq?: number | null;
  messageId?: string | null;
}

/** The agent asks before using a tool; it waits until a person answers (or the turn ends). */
export interface ApprovalEvent {
  type: "approval";
  threadId: string;
  turnId: string;
  seq: number;
  requestId: string;
  tool: string;
  input: unknown;
  suggestions: unknown[];
  toolUseId?: string | null;
}

/** How an approval request ended; the request is closed. */
export interface ApprovalAnsweredEvent {
  type: "approval_answered";
  threadId: string;
  turnId: string;
  seq: number;
  requestId: string;
  decision: Resolution;
}

/** A message sent while a turn runs: stored, and it starts when the turns before it have ended. */
export interface QueuedEvent {
  type: "queued";
  threadId: string;
  messageId: string;
  position: number;
  clientMessageId?: string | null;
}

/** A queued message was removed before it started. */
export interface UnqueuedEvent {
  type: "unqueued";
  threadId: string;
  messageId: string;
}

/** The answer to ``watch``: the turn running on the thread now, if any (resume it to catch up). */
export interface WatchingEvent {
  type: "watching";
  threadId: string;
  turnId: string | null;
}

export type ClientRequest =
  | SendMessageRequest
  | CancelRequest
  | ResumeRequest
  | ApproveRequest
  | WatchRequest
  | RetryRequest;
export const CLIENT_REQUEST_TYPES = ["message", "cancel", "resume", "approve", "watch", "retry"] as const;

export type ServerEvent =
  | StartedEvent
  | TokenEvent
  | ToolEvent
  | ToolResultEvent
  | StatusEvent
  | TitleEvent
  | DoneEvent
  | ErrorEvent
  | ApprovalEvent
  | ApprovalAnsweredEvent
  | QueuedEvent
  | UnqueuedEvent
  | WatchingEvent;
export const SERVER_EVENT_TYPES = ["started", "token", "tool", "tool_result", "status", "title", "done", "error", "approval", "approval_answered", "queued", "unqueued", "watching"] as const;

export type TurnEvent =
  | TokenEvent
  | ToolEvent
  | ToolResultEvent
  | StatusEvent
  | ApprovalEvent
  | ApprovalAnsweredEvent
  | DoneEvent
  | ErrorEvent;
export const TURN_EVENT_TYPES = ["token", "tool", "tool_result", "status", "approval", "approval_answered", "done", "error"] as const;

export type ThreadEvent =
  | StartedEvent
  | QueuedEvent
  | UnqueuedEvent
  | TitleEvent;
export const THREAD_EVENT_TYPES = ["started", "queued", "unqueued", "title"] as const;
