// Unsent text per thread, kept in the browser so a reload does not lose it.

const PREFIX = "sandchat.draft.";

/** The key of the new conversation's text, before its first message stores the thread. */
export const NEW_CONVERSATION = "new";

/** Where the text typed for a thread (or for the unsaved new conversation, null) is kept. */
export function draftKey(threadId: string | null): string {
  return threadId ?? NEW_CONVERSATION;
}

export function loadDraft(threadId: string): string {
  try {
    return localStorage.getItem(PREFIX + threadId) ?? "";
  } catch {
    return "";
  }
}

export function saveDraft(threadId: string, text: string): void {
  try {
    if (text.trim()) localStorage.setItem(PREFIX + threadId, text);
    else localStorage.removeItem(PREFIX + threadId);
  } catch {
    // Storage full or disabled: the draft lives as long as the page, as before.
  }
}
