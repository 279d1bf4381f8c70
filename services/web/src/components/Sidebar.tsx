import type { ReactNode } from "react";
import type { Thread } from "../chat/protocol";
import { ThemeToggle } from "./ThemeToggle";
import { ThreadItems } from "./ThreadItems";

interface Props {
  threads: Thread[];
  currentId: string | null;
  onSelect: (threadId: string) => void;
  onNew: () => void;
  hasMore: boolean;
  loadingMore: boolean;
  onMore: () => void;
  /** The search box and its results, above the list. */
  search?: ReactNode;
  /** A search shows its results: the list steps aside. */
  searching?: boolean;
}

/** On wide screens: every thread by recency, a page at a time, beside the conversation. */
export function Sidebar({ threads, currentId, onSelect, onNew, hasMore, loadingMore, onMore, search, searching = false }: Props) {
  return (
    <nav
      aria-label="Threads"
      data-testid="sidebar"
      className="hidden w-72 shrink-0 flex-col border-r border-neutral-900 bg-neutral-950 lg:flex"
    >
      <div className="flex h-14 shrink-0 items-center justify-between px-3">
        <span className="flex items-center gap-1 text-sm font-semibold tracking-wide text-neutral-200">
          sandchat
          <ThemeToggle />
        </span>
        <button
          type="button"
          data-testid="sidebar-new-thread"
          onClick={onNew}
          className="flex h-8 items-center gap-1 rounded-lg border border-neutral-800 px-2.5 text-sm text-neutral-200 hover:border-neutral-600 hover:bg-neutral-900"
        >
          <span className="text-base leading-none" aria-hidden="true">
            +
          </span>
          New thread
        </button>
      </div>
      {search}
      {!searching && (
      <ThreadItems
        testid="sidebar-threads"
        threads={threads}
        currentId={currentId}
        onSelect={onSelect}
        hasMore={hasMore}
        loadingMore={loadingMore}
        onMore={onMore}
        className="min-h-0 flex-1 overflow-y-auto px-2 pb-3"
      />
      )}
    </nav>
  );
}
