import { useEffect, useRef, useState, type ReactNode } from "react";
import type { Thread } from "../chat/protocol";
import { LabelledButton } from "./LabelledButton";
import { ThemeToggle } from "./ThemeToggle";
import { ThreadItems } from "./ThreadItems";

/** Tailwind's `lg`: from here on the sidebar stands beside the conversation. */
const WIDE = "(min-width: 64rem)";

/** Whether the window is wide enough for the sidebar to stay open beside the conversation. */
export function useWideScreen(): boolean {
  const [wide, setWide] = useState(() => typeof matchMedia === "function" && matchMedia(WIDE).matches);
  useEffect(() => {
    if (typeof matchMedia !== "function") return;
    const query = matchMedia(WIDE);
    const change = () => setWide(query.matches);
    query.addEventListener("change", change);
    return () => query.removeEventListener("change", change);
  }, []);
  return wide;
}

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
  /** On narrow screens: shown over the conversation (the header's menu button opens it). */
  open?: boolean;
  onClose?: () => void;
}

/**
 * On wide screens: every thread by recency, a page at a time, beside the conversation. On narrow
 * ones the same panel (search, theme, threads) slides over the conversation while it is open.
 */
export function Sidebar({
  threads,
  currentId,
  onSelect,
  onNew,
  hasMore,
  loadingMore,
  onMore,
  search,
  searching = false,
  open = false,
  onClose,
}: Props) {
  const panel = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!open) return;
    // Opened from the menu button: the reader lands in the search box, Escape closes.
    panel.current?.querySelector<HTMLElement>("input[type=search], [role=option][tabindex='0']")?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose?.();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open, onClose]);
  return (
    <>
      {open && (
        <div
          data-testid="sidebar-backdrop"
          aria-hidden="true"
          onClick={onClose}
          className="fixed inset-0 z-40 bg-[rgb(0_0_0/0.55)] lg:hidden"
        />
      )}
      <nav
        ref={panel}
        id="sidebar"
        aria-label="Threads"
        data-testid="sidebar"
        data-open={open ? "true" : "false"}
        className={
          "w-72 shrink-0 flex-col border-r border-neutral-900 bg-neutral-950 lg:static lg:z-auto lg:flex lg:w-72 lg:shadow-none " +
          (open ? "fixed inset-y-0 left-0 z-50 flex w-[min(20rem,86vw)] shadow-2xl shadow-black/60" : "hidden")
        }
      >
        <div className="flex h-14 shrink-0 items-center justify-between gap-2 px-3">
          <span className="flex items-center gap-1 text-sm font-semibold tracking-wide text-neutral-200">
            sandchat
            <ThemeToggle />
          </span>
          <span className="flex items-center gap-1">
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
            {open && (
              <LabelledButton
                testid="close-sidebar"
                label="Close the thread list"
                onClick={onClose}
                className="flex size-8 items-center justify-center rounded-lg text-neutral-400 hover:bg-neutral-800 hover:text-neutral-100 lg:hidden"
              >
                <span aria-hidden="true">✕</span>
              </LabelledButton>
            )}
          </span>
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
    </>
  );
}
