// Reading frames from the gateway: defensive parsing and what a frame means for a turn.

import { SERVER_EVENT_TYPES, type MessageStatus, type ServerEvent } from "./protocol";

const SERVER_TYPES: ReadonlySet<string> = new Set(SERVER_EVENT_TYPES);

/**
 * The final status of a reply whose turn ended with this error code, as the store will show it
 * (shared/src/sandchat/turns/outcomes.py): stopped, interrupted by a dying worker, or failed.
 */
export function statusForErrorCode(code: string): MessageStatus {
  if (code === "cancelled") return "cancelled";
  if (code === "interrupted") return "interrupted";
  return "error";
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
