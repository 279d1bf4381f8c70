// Reading frames from the gateway: defensive parsing and what a frame means for a turn.

import {
  SERVER_EVENT_TYPES,
  STATUS_FOR_CODE,
  THREAD_EVENT_TYPES,
  type MessageStatus,
  type ServerEvent,
  type ThreadEvent,
} from "./protocol";

const SERVER_TYPES: ReadonlySet<string> = new Set(SERVER_EVENT_TYPES);
const THREAD_TYPES: ReadonlySet<string> = new Set(THREAD_EVENT_TYPES);

/** Error codes that end a running turn; the others refuse a request and leave any turn alone. */
export const TURN_ENDING_CODES: ReadonlySet<string> = new Set(Object.keys(STATUS_FOR_CODE));

/** The final status of a reply that ended with this error code. */
export function statusForErrorCode(code: string): MessageStatus {
  return (STATUS_FOR_CODE as Record<string, MessageStatus>)[code] ?? "error";
}

/** Thread events (no `seq`, not replayed) as opposed to a turn's numbered events. */
export function isThreadEvent(event: ServerEvent): event is ThreadEvent {
  return THREAD_TYPES.has(event.type);
}

/** Parse one text frame; null for anything that is not a server event we know. Never throws. */
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
