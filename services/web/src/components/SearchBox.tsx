import { useInfiniteQuery } from "@tanstack/react-query";
import { useEffect, useState, type UIEvent } from "react";
import { api, type SearchResult } from "../api";

/** Wait this long after the last keystroke before searching (ms). */
const DEBOUNCE_MS = 250;

function useDebounced(value: string, ms: number): string {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

function Snippet({ result, className }: { result: SearchResult; className: string }) {
  return (
    <span className={className}>
      {result.snippet.map((part, i) =>
        part.hit ? (
          <mark key={i} className="rounded-sm bg-amber-400/25 text-amber-100">
            {part.text}
          </mark>
        ) : (
          <span key={i}>{part.text}</span>
        ),
      )}
    </span>
  );
}

interface Props {
  /** Open a thread, at the message when one matched. */
  onOpen: (threadId: string, messageId: string | null) => void;
  /** Whether a search is shown (the thread list steps aside for its results). */
  onActive: (active: boolean) => void;
}

/** Search titles and messages; results replace the thread list while the box holds words. */
export function SearchBox({ onOpen, onActive }: Props) {
  const [text, setText] = useState("");
  const q = useDebounced(text.trim(), DEBOUNCE_MS);
  const results = useInfiniteQuery({
    queryKey: ["search", q],
    queryFn: ({ pageParam }) => api.search(q, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    enabled: q !== "",
    retry: false,
  });
  const active = text.trim() !== "";
  useEffect(() => onActive(active), [active, onActive]);
  const found = results.data?.pages.flatMap((page) => page.results) ?? [];
  const onScroll = (event: UIEvent<HTMLDivElement>) => {
    const el = event.currentTarget;
    if (results.hasNextPage && !results.isFetchingNextPage && el.scrollHeight - el.scrollTop - el.clientHeight < 200) {
      void results.fetchNextPage();
    }
  };
  return (
    <>
      <div role="search" className="px-3 pb-2">
        <input
          type="search"
          data-testid="search-input"
          aria-label="Search threads and messages"
          placeholder="Search"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") setText("");
          }}
          className="w-full rounded-lg border border-neutral-800 bg-neutral-900 px-3 py-1.5 text-sm text-neutral-100 placeholder:text-neutral-400 focus:border-sky-400 focus:outline-none"
        />
      </div>
      {active && (
        <div data-testid="search-results" onScroll={onScroll} className="min-h-0 flex-1 overflow-y-auto px-2 pb-3">
          {results.isError && (
            <p role="alert" className="px-3 py-2 text-sm text-red-300">
              {results.error.message}
            </p>
          )}
          {q !== "" && results.isSuccess && found.length === 0 && (
            <p className="px-3 py-2 text-sm text-neutral-400">No matches</p>
          )}
          <ul aria-label="Search results">
            {found.map((result) => (
              <li key={`${result.threadId}:${result.messageId ?? "title"}`}>
                <button
                  type="button"
                  data-testid="search-result"
                  data-thread-id={result.threadId}
                  data-hit-message-id={result.messageId ?? ""}
                  onClick={() => onOpen(result.threadId, result.messageId)}
                  className="flex w-full flex-col gap-0.5 rounded-lg px-3 py-2 text-left hover:bg-neutral-800/60 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-400"
                >
                  {result.messageId ? (
                    <>
                      <span className="truncate text-sm text-neutral-200">{result.threadTitle}</span>
                      <Snippet result={result} className="line-clamp-2 text-xs text-neutral-400" />
                    </>
                  ) : (
                    <Snippet result={result} className="truncate text-sm text-neutral-200" />
                  )}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}
