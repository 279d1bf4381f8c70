import { createContext, useContext, useState } from "react";
import type { ChatMessage } from "../chat/chatState";

/** What a message may offer: run the failed last reply again, edit a message the user sent. */
export interface MessageActionsValue {
  /** The reply that can be retried (the thread's last, ended in an error, a stop or an interruption). */
  retryableId: string | null;
  onRetry: () => void;
  /** Editing makes a new thread from the messages before this one; null while it cannot be done. */
  onEdit: ((messageId: string, content: string) => void) | null;
}

export const MessageActionsContext = createContext<MessageActionsValue>({
  retryableId: null,
  onRetry: () => undefined,
  onEdit: null,
});

const BUTTON =
  "rounded-md border border-neutral-700 px-2 py-0.5 text-xs text-neutral-300 hover:bg-neutral-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400";

/** "Retry" under the thread's last reply when it failed or was stopped. */
export function RetryAction({ message }: { message: ChatMessage }) {
  const { retryableId, onRetry } = useContext(MessageActionsContext);
  if (message.id !== retryableId) return null;
  return (
    <button type="button" data-testid="retry-button" onClick={onRetry} className={`mt-2 ${BUTTON}`}>
      Retry
    </button>
  );
}

/** "Edit" on a message the user sent: its text in a box; saving opens a new thread from that point. */
export function EditAction({ message }: { message: ChatMessage }) {
  const { onEdit } = useContext(MessageActionsContext);
  const [text, setText] = useState<string | null>(null);
  if (!onEdit || message.pending || message.status !== "complete" || message.id.startsWith("local-")) return null;
  if (text === null) {
    return (
      <div className="-mt-1 flex justify-end">
        <button
          type="button"
          data-testid="edit-button"
          data-message-id={message.id}
          onClick={() => setText(message.content)}
          className={BUTTON}
          title="Edit this message: a new thread continues from here, this one stays as it is"
        >
          Edit
        </button>
      </div>
    );
  }
  const save = () => {
    if (text.trim()) onEdit(message.id, text);
    setText(null);
  };
  return (
    <div data-testid="edit-box" className="ml-auto flex w-full max-w-[88%] flex-col gap-2 @2xl:max-w-[75%]">
      <label className="sr-only" htmlFor={`edit-${message.id}`}>
        Edited message
      </label>
      <textarea
        id={`edit-${message.id}`}
        data-testid="edit-input"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            save();
          } else if (e.key === "Escape") setText(null);
        }}
        rows={3}
        className="w-full rounded-xl border border-neutral-700 bg-neutral-900 px-3 py-2 text-[15px] text-neutral-100"
      />
      <div className="flex justify-end gap-2">
        <button type="button" data-testid="edit-cancel" onClick={() => setText(null)} className={BUTTON}>
          Cancel
        </button>
        <button type="button" data-testid="edit-save" onClick={save} className={BUTTON}>
          Send as a new thread
        </button>
      </div>
    </div>
  );
}
