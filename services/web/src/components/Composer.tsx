import { useEffect, useLayoutEffect, useRef, type KeyboardEvent } from "react";
import { Icon } from "./Icon";
import { LabelledButton } from "./LabelledButton";

interface Props {
  value: string;
  onChange: (text: string) => void;
  onSend: () => void;
  onStop: () => void;
  /** A reply is being written: Stop applies, and a message sent now is queued behind it. */
  running: boolean;
  /** A message can be sent now (no send of this page waits for its answer). */
  canSend: boolean;
  connected: boolean;
  threadId: string | null;
}

const MAX_HEIGHT = 240;

export function Composer({ value, onChange, onSend, onStop, running, canSend: ready, connected, threadId }: Props) {
  const input = useRef<HTMLTextAreaElement>(null);

  // Grow with the text up to a limit, then scroll.
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT)}px`;
  }, [value]);

  // Focus on thread open and when a reply finishes, so the next message can be typed at once.
  useEffect(() => {
    if (!running) input.current?.focus();
  }, [running, threadId]);

  const canSend = connected && ready && value.trim() !== "";

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      if (canSend) onSend();
    }
  };

  return (
    <div className="@container shrink-0 border-t border-neutral-900 bg-neutral-950 px-3 pt-3 pb-[max(0.75rem,env(safe-area-inset-bottom))]">
      <form
        className="mx-auto flex w-full max-w-3xl items-end gap-2 rounded-2xl border border-neutral-800 bg-neutral-900 p-2 focus-within:border-sky-400 @5xl:max-w-[52rem]"
        onSubmit={(e) => {
          e.preventDefault();
          if (canSend) onSend();
        }}
      >
        <textarea
          ref={input}
          data-testid="chat-input"
          aria-label="Message"
          rows={1}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={
            running
              ? "The agent is replying… a message sent now waits for its turn"
              : "Message the agent…  (Enter to send, Shift+Enter for a new line)"
          }
          className="max-h-60 min-h-10 flex-1 resize-none bg-transparent px-2 py-2 text-[15px] leading-6 text-neutral-100 placeholder:text-neutral-400 focus:outline-none disabled:cursor-not-allowed disabled:text-neutral-400"
        />
        {running && (
          <LabelledButton
            label="Stop the reply"
            title="Stop (the reply so far is kept)"
            testid="stop-button"
            onClick={onStop}
            className="flex size-10 shrink-0 items-center justify-center rounded-xl bg-neutral-100 text-neutral-900 hover:bg-white"
          >
            <span className="size-3.5 rounded-[3px] bg-neutral-900" />
          </LabelledButton>
        )}
        <button
          type="submit"
          data-testid="send-button"
          aria-label="Send"
          title={!connected ? "Not connected" : running ? "Send: it waits for the reply to end" : "Send (Enter)"}
          disabled={!canSend}
          className="flex size-10 shrink-0 items-center justify-center rounded-xl bg-sky-700 text-white hover:bg-sky-800 disabled:bg-neutral-800 disabled:text-neutral-500"
        >
          <Icon className="size-5" d="M10 17a1 1 0 0 1-1-1V6.41L5.7 9.7a1 1 0 0 1-1.4-1.42l5-5a1 1 0 0 1 1.4 0l5 5a1 1 0 0 1-1.4 1.42L11 6.4V16a1 1 0 0 1-1 1Z" />
        </button>
      </form>
    </div>
  );
}
