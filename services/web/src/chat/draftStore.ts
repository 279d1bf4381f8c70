// Unsent text per thread, kept in the browser so a reload does not lose it.

const PREFIX = "sandchat.draft.";

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
