import type { ChatMessage } from "../chat/chatState";

interface Props {
  message: ChatMessage;
  /** 1 = starts next. */
  position: number;
  /** Remove it before it starts (`DELETE /threads/{id}/messages/{messageId}`). */
  onRemove: () => void;
}

/** A message sent while the agent works: it waits for its turn and can be taken back until it starts. */
export function QueuedMessage({ message, position, onRemove }: Props) {
  return (
    <div
      data-testid="message"
      data-role="user"
      data-status="queued"
      data-message-id={message.id}
      role="article"
      aria-label="You said (queued)"
      className="flex flex-col items-end gap-1"
    >
      <div
        className="max-w-[88%] rounded-2xl rounded-br-md border border-dashed border-neutral-700 px-4 py-2.5 text-[15px] leading-relaxed whitespace-pre-wrap text-neutral-300"
        style={{ overflowWrap: "anywhere" }}
      >
        {message.content}
      </div>
      <div className="flex items-center gap-2 text-xs text-neutral-400">
        <span data-testid="queue-position">{position === 1 ? "Queued: starts next" : `Queued: ${position} in line`}</span>
        <button
          type="button"
          onClick={onRemove}
          aria-label="Remove this queued message"
          className="rounded px-1.5 py-0.5 text-neutral-400 hover:bg-neutral-800 hover:text-neutral-200"
        >
          Remove
        </button>
      </div>
    </div>
  );
}
