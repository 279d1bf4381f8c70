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
import { Icon } from "./Icon";
import { LabelledButton } from "./LabelledButton";
import { LoadMoreButton } from "./LoadMoreButton";
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
  /** Older messages exist: scrolling near the top asks for them. */
  hasOlder?: boolean;
  loadingOlder?: boolean;
  onLoadOlder?: () => void;
  /** A message to bring into view and mark for a moment (a search hit). */
  focusId?: string | null;
  onAnswer?: AnswerApproval;
  /** Take a queued message back before it starts. */
  onRemoveQueued?: (messageId: string) => void;
}

/** Ask for older messages when the reader is this close to the top (px). */
const NEAR_TOP = 300;

export function MessageList({
  threadId,
  messages,
  loading,
  footer,
  empty,
  hasOlder = false,
  loadingOlder = false,
  onLoadOlder,
  focusId = null,
  onAnswer,
  onRemoveQueued,
}: Props) {
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
    if (el.scrollTop < NEAR_TOP && hasOlder && !loadingOlder) onLoadOlder?.();
  }, [hasOlder, loadingOlder, onLoadOlder]);

  // Older messages arrive above what the reader sees: keep what they see where it was.
  const firstId = messages[0]?.id;
  const anchor = useRef<{ firstId: string | undefined; height: number }>({ firstId: undefined, height: 0 });
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const before = anchor.current;
    if (before.firstId && firstId !== before.firstId && !follow.current && messages.some((m) => m.id === before.firstId)) {
      el.scrollTop += el.scrollHeight - before.height;
    }
    anchor.current = { firstId, height: el.scrollHeight };
  });

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

  // A search hit: stop following the end, show the message, mark it for a moment.
  const focused = useRef<string | null>(null);
  useLayoutEffect(() => {
    if (!focusId) {
      focused.current = null;
      return;
    }
    if (focused.current === focusId) return;
    const el = scroller.current?.querySelector<HTMLElement>(
      `[data-testid="message"][data-message-id="${CSS.escape(focusId)}"]`,
    );
    if (!el) return;
    focused.current = focusId;
    follow.current = false;
    setAwayFromEnd(true);
    el.scrollIntoView({ block: "center" });
    el.setAttribute("data-focused", "true");
    setTimeout(() => el.removeAttribute("data-focused"), 2500);
  }, [focusId, messages]);

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
          {hasOlder && (
            <LoadMoreButton
              testid="load-older"
              onClick={onLoadOlder}
              loading={loadingOlder}
              label="Older messages"
              loadingLabel="Loading older messages…"
              className="self-center rounded-lg border border-neutral-800 px-3 py-1 text-xs text-neutral-400 hover:bg-neutral-900"
            />
          )}
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
        <LabelledButton
          testid="scroll-to-bottom"
          label="Scroll to the latest message"
          onClick={() => {
            follow.current = true;
            setAwayFromEnd(false);
            toEnd(true);
          }}
          className="absolute bottom-4 left-1/2 flex size-9 -translate-x-1/2 items-center justify-center rounded-full border border-neutral-700 bg-neutral-900/95 text-neutral-300 shadow-lg shadow-black/40 hover:bg-neutral-800 hover:text-white"
        >
          <Icon className="size-4" d="M10 3a1 1 0 0 1 1 1v9.59l3.3-3.3a1 1 0 1 1 1.4 1.42l-5 5a1 1 0 0 1-1.4 0l-5-5a1 1 0 1 1 1.4-1.42L9 13.6V4a1 1 0 0 1 1-1Z" />
        </LabelledButton>
      )}
    </div>
  );
}
