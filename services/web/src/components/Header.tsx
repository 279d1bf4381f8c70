import { useEffect, useRef, useState, type ReactNode } from "react";
import type { Thread } from "../chat/protocol";
import { useDisclosure } from "./disclosure";
import { Icon } from "./Icon";
import { LabelledButton } from "./LabelledButton";
import { ThreadItems } from "./ThreadItems";

interface Props {
  threads: Thread[];
  hasMore: boolean;
  loadingMore: boolean;
  onMore: () => void;
  current: Thread | null;
  onSelect: (threadId: string) => void;
  onNew: () => void;
  onRename: (title: string) => void;
  onDelete: () => void;
  onExport: (format: "md" | "json") => void;
  right: ReactNode;
  /** First in the bar: the narrow screens' button that opens the sidebar. */
  leading?: ReactNode;
}

function IconButton(props: {
  label: string;
  testid: string;
  onClick: () => void;
  children: ReactNode;
  danger?: boolean;
}) {
  return (
    <LabelledButton
      label={props.label}
      testid={props.testid}
      onClick={props.onClick}
      className={
        "flex size-8 shrink-0 items-center justify-center rounded-lg text-neutral-400 hover:bg-neutral-800 " +
        (props.danger ? "hover:text-red-300" : "hover:text-neutral-100")
      }
    >
      {props.children}
    </LabelledButton>
  );
}

const EXPORTS = [
  ["md", "Markdown (.md)"],
  ["json", "JSON (.json)"],
] as const;

function ExportMenu({ onExport }: { onExport: (format: "md" | "json") => void }) {
  const { open, setOpen, toggle } = useDisclosure("menu");
  const choose = (format: "md" | "json") => {
    setOpen(false);
    onExport(format);
  };
  return (
    <div className="relative" onBlur={(e) => !e.currentTarget.contains(e.relatedTarget) && setOpen(false)}>
      <IconButton label="Export thread" testid="export-thread" onClick={toggle.onClick}>
        <svg viewBox="0 0 20 20" fill="currentColor" className="size-4" aria-hidden="true">
          <path d="M10 2.75a.75.75 0 0 1 .75.75v7.19l2.22-2.22a.75.75 0 1 1 1.06 1.06l-3.5 3.5a.75.75 0 0 1-1.06 0l-3.5-3.5a.75.75 0 0 1 1.06-1.06l2.22 2.22V3.5a.75.75 0 0 1 .75-.75ZM4 13.75a.75.75 0 0 1 .75.75v1h10.5v-1a.75.75 0 0 1 1.5 0v1.75a.75.75 0 0 1-.75.75H4a.75.75 0 0 1-.75-.75V14.5a.75.75 0 0 1 .75-.75Z" />
        </svg>
      </IconButton>
      {open && (
        <div className="absolute top-full right-0 z-30 mt-1.5 w-40 rounded-xl border border-neutral-800 bg-neutral-900 p-1 shadow-2xl shadow-black/60">
          {EXPORTS.map(([format, label]) => (
            <button
              key={format}
              type="button"
              data-testid={`export-${format}`}
              onClick={() => choose(format)}
              className="w-full rounded-lg px-3 py-1.5 text-left text-sm text-neutral-200 hover:bg-neutral-800"
            >
              {label}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

export function Header({
  threads,
  hasMore,
  loadingMore,
  onMore,
  current,
  onSelect,
  onNew,
  onRename,
  onDelete,
  onExport,
  right,
  leading,
}: Props) {
  const { open, setOpen, toggle } = useDisclosure("listbox");
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
      if (e.key !== "Escape") return;
      // Focus in the closing list would fall to the page: it goes back to the button that opened it.
      if (menu.current?.contains(document.activeElement)) {
        menu.current.querySelector<HTMLElement>("[data-testid=thread-dropdown-toggle]")?.focus();
      }
      setOpen(false);
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
    // The title keeps room for a few words: on a phone the controls wrap onto a second row.
    <header className="@container relative z-20 flex min-h-14 shrink-0 flex-wrap items-center gap-x-2 gap-y-1 border-b border-neutral-900 bg-neutral-950/95 px-3 py-1.5">
      {leading}
      {/* Not positioned: the dropdown hangs below the whole header, also below a phone's second row. */}
      <div ref={menu} className="flex min-w-[min(12rem,55%)] flex-1 items-center">
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
            className="w-full max-w-md rounded-lg border border-neutral-700 bg-neutral-900 px-2.5 py-1.5 text-sm text-neutral-100 focus:border-sky-400 focus:outline-none"
          />
        ) : (
          <button
            type="button"
            data-testid="thread-dropdown-toggle"
            {...toggle}
            className="flex max-w-[min(100%,40rem)] min-w-0 items-center gap-1.5 rounded-lg px-2.5 py-1.5 hover:bg-neutral-900"
          >
            <span data-testid="thread-title" className="truncate text-[15px] font-medium text-neutral-100">
              {title}
            </span>
            {threads.some((t) => t.id !== current?.id && t.activity === "waiting") && (
              <span data-testid="other-thread-waiting" title="Another thread waits for you" className="size-2 shrink-0 rounded-full bg-amber-400" />
            )}
            <Icon className={"size-4 shrink-0 text-neutral-500 transition-transform " + (open ? "rotate-180" : "")} d="M5.23 7.21a.75.75 0 0 1 1.06.02L10 11.17l3.71-3.94a.75.75 0 1 1 1.08 1.04l-4.25 4.5a.75.75 0 0 1-1.08 0l-4.25-4.5a.75.75 0 0 1 .02-1.06Z" />
          </button>
        )}
        {open && (
          <ThreadItems
            testid="thread-dropdown"
            threads={threads}
            currentId={current?.id ?? null}
            onSelect={(id) => {
              onSelect(id);
              setOpen(false);
            }}
            hasMore={hasMore}
            loadingMore={loadingMore}
            onMore={onMore}
            className="absolute top-full left-3 z-30 mt-1.5 max-h-[min(70dvh,32rem)] w-[min(26rem,calc(100vw-1.5rem))] overflow-y-auto rounded-xl border border-neutral-800 bg-neutral-900 p-1 shadow-2xl shadow-black/60"
          />
        )}
      </div>

      <div className="ml-auto flex shrink-0 items-center gap-1.5">
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
        {current && !editing && <ExportMenu onExport={onExport} />}
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
              <Icon className="size-4" d="M8 2a1 1 0 0 0-.9.55L6.38 4H3.5a.75.75 0 0 0 0 1.5h.3l.8 10.1A2 2 0 0 0 6.6 17.5h6.8a2 2 0 0 0 2-1.9l.8-10.1h.3a.75.75 0 0 0 0-1.5h-2.88l-.72-1.45A1 1 0 0 0 12 2H8Zm0 5.25a.75.75 0 0 1 .75.75v6a.75.75 0 0 1-1.5 0V8A.75.75 0 0 1 8 7.25Zm4 0a.75.75 0 0 1 .75.75v6a.75.75 0 0 1-1.5 0V8a.75.75 0 0 1 .75-.75Z" />
            </IconButton>
          ))}
        <LabelledButton
          label="New thread"
          testid="new-thread"
          onClick={onNew}
          className="flex h-8 shrink-0 items-center gap-1 rounded-lg border border-neutral-800 px-2.5 text-sm text-neutral-200 hover:border-neutral-600 hover:bg-neutral-900"
        >
          <span className="text-base leading-none">+</span>
          <span className="hidden @3xl:inline">New</span>
        </LabelledButton>
      </div>
    </header>
  );
}
