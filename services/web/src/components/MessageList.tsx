import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
  type WheelEvent,
} from "react";
import { isQueued, type ChatMessage } from "../chat/chatState";
import { Message, type AnswerApproval } from "./Message";
import { QueuedMessage } from "./QueuedMessage";

/** How close to the end still counts as "reading the end" (px). */
const BOTTOM_SLACK = 48;

interface Props {
  threadId: string | null;
  messages: ChatMessage[];
  loading: boolean;
  footer?: ReactNode;
  empty: ReactNode;
  onAnswer?: AnswerApproval;
  /** Take a queued message back before it starts. */
  onRemoveQueued?: (messageId: string) => void;
}

export function MessageList({ threadId, messages, loading, footer, empty, onAnswer, onRemoveQueued }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  // Follow new text only while the reader is at the end; scrolling up stops it.
  const follow = useRef(true);
  const [awayFromEnd, setAwayFromEnd] = useState(false);

  const toEnd = useCallback((smooth = false) => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTo({ top: el.scrollHeight, behavior: smooth ? "smooth" : "auto" });
  }, []);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK;
    follow.current = atEnd;
    setAwayFromEnd(!atEnd);
  }, []);

  // The reader's intent to go up is known before the scroll event: stop following at once, so a
  // token arriving in between cannot pull the view back down.
  const leaveEnd = useCallback(() => {
    follow.current = false;
    setAwayFromEnd(true);
  }, []);
  const onWheel = useCallback(
    (event: WheelEvent) => {
      if (event.deltaY < 0) leaveEnd();
    },
    [leaveEnd],
  );
  const onKeyDown = useCallback(
    (event: KeyboardEvent) => {
      if (["ArrowUp", "PageUp", "Home"].includes(event.key)) leaveEnd();
    },
    [leaveEnd],
  );

  // A new thread opens at its end.
  useLayoutEffect(() => {
    follow.current = true;
    setAwayFromEnd(false);
    toEnd();
  }, [threadId, toEnd]);

  useLayoutEffect(() => {
    if (follow.current) toEnd();
  }, [messages, footer, toEnd]);

  // Heights also change without new messages (code highlighting, an opened tool block, resizes).
  useEffect(() => {
    const el = content.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => {
      if (follow.current) toEnd();
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [toEnd]);

  const showEmpty = !loading && messages.length === 0;
  // Queued messages are listed in the order they will start (chatMessage.ordered).
  let queuePosition = 0;

  return (
    <div className="relative min-h-0 flex-1">
      <div
        ref={scroller}
        onScroll={onScroll}
        onWheel={onWheel}
        onKeyDown={onKeyDown}
        onTouchMove={leaveEnd}
        data-testid="message-list"
        className="@container h-full overflow-y-auto overscroll-contain"
      >
        <div
          ref={content}
          className="mx-auto flex w-full max-w-3xl flex-col gap-7 px-4 pt-6 pb-10 @2xl:px-6 @5xl:max-w-[52rem] @7xl:max-w-4xl"
        >
          {showEmpty && empty}
          {messages.map((m) => {
            if (!isQueued(m)) return <Message key={m.id} message={m} onAnswer={onAnswer} />;
            queuePosition += 1;
            return (
              <QueuedMessage key={m.id} message={m} position={queuePosition} onRemove={() => onRemoveQueued?.(m.id)} />
            );
          })}
          {footer}
        </div>
      </div>
      {awayFromEnd && (
        <button
          type="button"
          data-testid="scroll-to-bottom"
          aria-label="Scroll to the latest message"
          onClick={() => {
            follow.current = true;
            setAwayFromEnd(false);
            toEnd(true);
          }}
          className="absolute bottom-4 left-1/2 flex size-9 -translate-x-1/2 items-center justify-center rounded-full border border-neutral-700 bg-neutral-900/95 text-neutral-300 shadow-lg shadow-black/40 hover:bg-neutral-800 hover:text-white"
        >
          <svg viewBox="0 0 20 20" fill="currentColor" className="size-4" aria-hidden="true">
            <path
              fillRule="evenodd"
              d="M10 3a1 1 0 0 1 1 1v9.59l3.3-3.3a1 1 0 1 1 1.4 1.42l-5 5a1 1 0 0 1-1.4 0l-5-5a1 1 0 1 1 1.4-1.42L9 13.6V4a1 1 0 0 1 1-1Z"
              clipRule="evenodd"
            />
          </svg>
        </button>
      )}
    </div>
  );
}
