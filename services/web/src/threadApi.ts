// The HTTP calls of live sessions: a thread's permission mode, and removing a queued message.

import { request } from "./api";
import type { PermissionMode, Thread } from "./chat/protocol";

const threadPath = (threadId: string) => `/threads/${encodeURIComponent(threadId)}`;

/** `PATCH /threads/{id}` with `permissionMode`: takes effect at the thread's next turn. */
export function setPermissionMode(threadId: string, permissionMode: PermissionMode): Promise<{ thread: Thread }> {
  return request<{ thread: Thread }>(threadPath(threadId), {
    method: "PATCH",
    body: JSON.stringify({ permissionMode }),
  });
}

/**
 * `DELETE /threads/{id}/messages/{messageId}`: remove a queued message before it starts.
 * Refused with 409 ("This message has already started.") once it has, 404 when there is none.
 */
export function removeQueuedMessage(threadId: string, messageId: string): Promise<void> {
  return request<void>(`${threadPath(threadId)}/messages/${encodeURIComponent(messageId)}`, { method: "DELETE" });
}
