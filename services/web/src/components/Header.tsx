import { useEffect, useRef, useState, type ReactNode } from "react";
import type { Thread } from "../chat/protocol";
import { relativeTime } from "../relativeTime";

interface Props {
  threads: Thread[];
  current: Thread | null;
  onSelect: (threadId: string) => void;
  onNew: () => void;
  onRename: (title: string) => void;
  onDelete: () => void;
  right: ReactNode;
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function IconButton(props: {
  label: string;
  testid: string;
  onClick: () => void;
  children: ReactNode;
  danger?: boolean;
}) {
  return (
    <button
      type="button"
      data-testid={props.testid}
      aria-label={props.label}
      title={props.label}
      onClick={props.onClick}
      className={
        "flex size-8 shrink-0 items-center justify-center rounded-lg text-neutral-400 hover:bg-neutral-800 " +
        (props.danger ? "hover:text-red-300" : "hover:text-neutral-100")
      }
    >
      {props.children}
    </button>
  );
}

function ThreadDropdown({ threads, current, onSelect, onClose }: {
  threads: Thread[];
  current: Thread | null;
  onSelect: (id: string) => void;
  onClose: () => void;
}) {
  const now = useNow(30_000);
  return (
    <div
      data-testid="thread-dropdown"
      role="listbox"
      aria-label="Threads"
      className="absolute top-full left-0 z-30 mt-1.5 max-h-[min(70dvh,32rem)] w-[min(26rem,calc(100vw-1.5rem))] overflow-y-auto rounded-xl border border-neutral-800 bg-neutral-900 p-1 shadow-2xl shadow-black/60"
    >
      {threads.length === 0 && <div className="px-3 py-2 text-sm text-neutral-500">No threads yet</div>}
      {threads.map((t) => {
        const isCurrent = t.id === current?.id;
        return (
          <button
            key={t.id}
            type="button"
            role="option"
            aria-selected={isCurrent}
            data-testid="thread-item"
            data-thread-id={t.id}
            data-current={isCurrent ? "true" : "false"}
            onClick={() => {
              onSelect(t.id);
              onClose();
            }}
            className={
              "flex w-full items-baseline gap-3 rounded-lg px-3 py-2 text-left text-sm " +
              (isCurrent ? "bg-neutral-800 text-white" : "text-neutral-300 hover:bg-neutral-800/60")
            }
          >
            <span className="min-w-0 flex-1 truncate">{t.title || "New conversation"}</span>
            <ThreadActivityMark activity={t.activity} />
            <span
              data-testid="thread-time"
              className="shrink-0 text-xs text-neutral-500"
              title={new Date(t.updatedAt).toLocaleString()}
            >
              {relativeTime(t.updatedAt, now)}
            </span>
          </button>
        );
      })}
    </div>
  );
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
      <span data-testid="thread-running" title="Replying" className="size-1.5 shrink-0 animate-pulse self-center rounded-full bg-sky-400" />
    );
  }
  return null;
}

export function Header({ threads, current, onSelect, onNew, onRename, onDelete, right }: Props) {
  const [open, setOpen] = useState(false);
  const [editing, setEditing] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [titleDraft, setTitleDraft] = useState("");
  const menu = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (menu.current && !menu.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  useEffect(() => {
    if (!confirmDelete) return;
    const timer = setTimeout(() => setConfirmDelete(false), 4000);
    return () => clearTimeout(timer);
  }, [confirmDelete]);

  useEffect(() => {
    setEditing(false);
    setConfirmDelete(false);
  }, [current?.id]);

  const title = current?.title || "New conversation";

  const commitRename = () => {
    const next = titleDraft.trim();
    setEditing(false);
    if (next && next !== current?.title) onRename(next);
  };

  return (
    <header className="@container relative z-20 flex h-14 shrink-0 items-center gap-2 border-b border-neutral-900 bg-neutral-950/95 px-3">
      <div ref={menu} className="relative flex min-w-0 flex-1 items-center">
        {editing ? (
          <input
            data-testid="title-input"
            aria-label="Thread title"
            autoFocus
            value={titleDraft}
            maxLength={200}
            onChange={(e) => setTitleDraft(e.target.value)}
            onBlur={commitRename}
            onKeyDown={(e) => {
              if (e.key === "Enter") commitRename();
              if (e.key === "Escape") setEditing(false);
            }}
            className="w-full max-w-md rounded-lg border border-neutral-700 bg-neutral-900 px-2.5 py-1.5 text-sm text-neutral-100 focus:border-neutral-500 focus:outline-none"
          />
        ) : (
          <button
            type="button"
            data-testid="thread-dropdown-toggle"
            aria-haspopup="listbox"
            aria-expanded={open}
            onClick={() => setOpen((v) => !v)}
            className="flex max-w-[min(100%,40rem)] min-w-0 items-center gap-1.5 rounded-lg px-2.5 py-1.5 hover:bg-neutral-900"
          >
            <span data-testid="thread-title" className="truncate text-[15px] font-medium text-neutral-100">
              {title}
            </span>
            {threads.some((t) => t.id !== current?.id && t.activity === "waiting") && (
              <span data-testid="other-thread-waiting" title="Another thread waits for you" className="size-2 shrink-0 rounded-full bg-amber-400" />
            )}
            <svg viewBox="0 0 20 20" fill="currentColor" aria-hidden="true"
              className={"size-4 shrink-0 text-neutral-500 transition-transform " + (open ? "rotate-180" : "")}>
              <path fillRule="evenodd" clipRule="evenodd"
                d="M5.23 7.21a.75.75 0 0 1 1.06.02L10 11.17l3.71-3.94a.75.75 0 1 1 1.08 1.04l-4.25 4.5a.75.75 0 0 1-1.08 0l-4.25-4.5a.75.75 0 0 1 .02-1.06Z" />
            </svg>
          </button>
        )}
        {open && (
          <ThreadDropdown threads={threads} current={current} onSelect={onSelect} onClose={() => setOpen(false)} />
        )}
      </div>

      <div className="flex shrink-0 items-center gap-1.5">
        {right}
        {current && !editing && (
          <IconButton
            label="Rename thread"
            testid="rename-thread"
            onClick={() => {
              setTitleDraft(current.title);
              setEditing(true);
              setOpen(false);
            }}
          >
            <svg viewBox="0 0 20 20" fill="currentColor" className="size-4" aria-hidden="true">
              <path d="M13.59 3.59a2 2 0 0 1 2.82 2.82l-8.5 8.5a1 1 0 0 1-.47.26l-3.2.8a.5.5 0 0 1-.6-.6l.8-3.2a1 1 0 0 1 .26-.47l8.5-8.5Z" />
            </svg>
          </IconButton>
        )}
        {current &&
          (confirmDelete ? (
            <button
              type="button"
              data-testid="confirm-delete"
              onClick={() => {
                setConfirmDelete(false);
                onDelete();
              }}
              className="h-8 shrink-0 rounded-lg bg-red-900/60 px-2.5 text-xs font-medium text-red-100 hover:bg-red-800"
            >
              Delete thread?
            </button>
          ) : (
            <IconButton label="Delete thread" testid="delete-thread" danger onClick={() => setConfirmDelete(true)}>
              <svg viewBox="0 0 20 20" fill="currentColor" className="size-4" aria-hidden="true">
                <path fillRule="evenodd" clipRule="evenodd"
                  d="M8 2a1 1 0 0 0-.9.55L6.38 4H3.5a.75.75 0 0 0 0 1.5h.3l.8 10.1A2 2 0 0 0 6.6 17.5h6.8a2 2 0 0 0 2-1.9l.8-10.1h.3a.75.75 0 0 0 0-1.5h-2.88l-.72-1.45A1 1 0 0 0 12 2H8Zm0 5.25a.75.75 0 0 1 .75.75v6a.75.75 0 0 1-1.5 0V8A.75.75 0 0 1 8 7.25Zm4 0a.75.75 0 0 1 .75.75v6a.75.75 0 0 1-1.5 0V8a.75.75 0 0 1 .75-.75Z" />
              </svg>
            </IconButton>
          ))}
        <button
          type="button"
          data-testid="new-thread"
          aria-label="New thread"
          title="New thread"
          onClick={onNew}
          className="flex h-8 shrink-0 items-center gap-1 rounded-lg border border-neutral-800 px-2.5 text-sm text-neutral-200 hover:border-neutral-600 hover:bg-neutral-900"
        >
          <span className="text-base leading-none">+</span>
          <span className="hidden @3xl:inline">New</span>
        </button>
      </div>
    </header>
  );
}
