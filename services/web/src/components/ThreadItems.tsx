import { useEffect, useState, type KeyboardEvent, type UIEvent } from "react";
import type { Thread } from "../chat/protocol";
import { relativeTime } from "../relativeTime";
import { LoadMoreButton } from "./LoadMoreButton";

/** Load the next page when the list is scrolled this close to its end (px). */
const NEAR_END = 240;

export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

interface Props {
  threads: Thread[];
  currentId: string | null;
  onSelect: (threadId: string) => void;
  hasMore: boolean;
  loadingMore: boolean;
  onMore: () => void;
  testid: string;
  className: string;
}

/** A thread whose agent waits for an approval says so in the list; one that is replying shows a dot. */
export function ThreadActivityMark({ activity }: { activity: Thread["activity"] }) {
  if (activity === "waiting") {
    return (
      <span
        data-testid="thread-waiting"
        className="shrink-0 rounded-full border border-amber-700/70 bg-amber-950/40 px-2 py-0.5 text-xs text-amber-200"
      >
        Waiting for you
      </span>
    );
  }
  if (activity === "running") {
    return (
      <span data-testid="thread-running" title="Replying" className="size-1.5 shrink-0 animate-pulse self-center rounded-full bg-sky-400">
        <span className="sr-only">Replying</span>
      </span>
    );
  }
  return null;
}

/** The option that arrow keys, Home or End lead to from `at` (-1: none focused yet). */
export function nextIndex(key: string, at: number, count: number): number | null {
  if (count === 0) return null;
  switch (key) {
    case "ArrowDown":
      return Math.min(count - 1, at + 1);
    case "ArrowUp":
      return Math.max(0, at - 1);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}

/**
 * Threads by recency, a page at a time: the next page loads as the reader nears the end. One Tab
 * stop (roving tabindex): the open thread's, else the one last focused; arrow keys, Home and End move.
 */
export function ThreadItems({ threads, currentId, onSelect, hasMore, loadingMore, onMore, testid, className }: Props) {
  const now = useNow(30_000);
  const [active, setActive] = useState<string | null>(null);
  const onScroll = (event: UIEvent<HTMLDivElement>) => {
    const el = event.currentTarget;
    if (hasMore && !loadingMore && el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_END) onMore();
  };
  const tabStop =
    threads.find((t) => t.id === active)?.id ?? threads.find((t) => t.id === currentId)?.id ?? threads[0]?.id;
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const items = Array.from(event.currentTarget.querySelectorAll<HTMLElement>("[role=option]"));
    const at = items.indexOf(document.activeElement as HTMLElement);
    const next = nextIndex(event.key, at, items.length);
    if (next === null) return;
    event.preventDefault();
    items[next].focus();
    items[next].scrollIntoView({ block: "nearest" });
    // At the end of what is loaded, the next page comes (it extends the list where focus is).
    if (next === items.length - 1 && hasMore && !loadingMore) onMore();
  };
  return (
    <div data-testid={testid} onScroll={onScroll} className={className}>
      {threads.length === 0 && <div className="px-3 py-2 text-sm text-neutral-400">No threads yet</div>}
      <div role="listbox" aria-label="Threads" onKeyDown={onKeyDown}>
        {threads.map((t) => {
          const isCurrent = t.id === currentId;
          return (
            <button
              key={t.id}
              type="button"
              role="option"
              aria-selected={isCurrent}
              tabIndex={t.id === tabStop ? 0 : -1}
              data-testid="thread-item"
              data-thread-id={t.id}
              data-current={isCurrent ? "true" : "false"}
              onClick={() => onSelect(t.id)}
              onFocus={() => setActive(t.id)}
              className={
                "flex w-full items-baseline gap-2 rounded-lg px-3 py-2 text-left text-sm focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-400 " +
                (isCurrent ? "bg-neutral-800 text-white" : "text-neutral-300 hover:bg-neutral-800/60")
              }
            >
              <span className="min-w-0 flex-1 truncate">{t.title || "New conversation"}</span>
              <ThreadActivityMark activity={t.activity} />
              <span
                data-testid="thread-time"
                className="shrink-0 text-xs text-neutral-400"
                title={new Date(t.updatedAt).toLocaleString()}
              >
                {relativeTime(t.updatedAt, now)}
              </span>
            </button>
          );
        })}
      </div>
      {hasMore && (
        <LoadMoreButton
          testid="more-threads"
          onClick={onMore}
          loading={loadingMore}
          label="Older threads"
          loadingLabel="Loading…"
          className="w-full rounded-lg px-3 py-2 text-left text-xs text-neutral-400 hover:bg-neutral-800/60"
        />
      )}
    </div>
  );
}
