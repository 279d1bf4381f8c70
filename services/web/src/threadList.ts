// The thread list as the page keeps it: cursor pages from `GET /threads` in one infinite query.

import { useInfiniteQuery, type InfiniteData, type QueryClient } from "@tanstack/react-query";
import { api, type ThreadPage } from "./api";
import type { Thread } from "./chat/protocol";

export const threadsKey = ["threads"] as const;
/** How often the thread list (titles, order, who waits for you) is re-read. */
const THREADS_REFRESH_MS = 30_000;

export type ThreadPages = InfiniteData<ThreadPage>;

/** Every loaded thread in order, each once (a thread that moved up between pages shows once, first). */
export function flattenThreads(data: ThreadPages | undefined): Thread[] {
  const seen = new Set<string>();
  const out: Thread[] = [];
  for (const page of data?.pages ?? []) {
    for (const thread of page.threads) {
      if (seen.has(thread.id)) continue;
      seen.add(thread.id);
      out.push(thread);
    }
  }
  return out;
}

function mapPages(data: ThreadPages | undefined, change: (threads: Thread[], index: number) => Thread[]) {
  if (!data) return data;
  return { ...data, pages: data.pages.map((page, index) => ({ ...page, threads: change(page.threads, index) })) };
}

/** A new (or newly active) thread at the top of the list. */
export function withThreadFirst(data: ThreadPages | undefined, thread: Thread): ThreadPages {
  const rest = mapPages(data, (threads) => threads.filter((t) => t.id !== thread.id));
  if (!rest || rest.pages.length === 0) return { pages: [{ threads: [thread], nextCursor: null }], pageParams: [null] };
  const [first, ...others] = rest.pages;
  return { ...rest, pages: [{ ...first, threads: [thread, ...first.threads] }, ...others] };
}

export function withThreadChanged(
  data: ThreadPages | undefined,
  threadId: string,
  change: (thread: Thread) => Thread,
): ThreadPages | undefined {
  return mapPages(data, (threads) => threads.map((t) => (t.id === threadId ? change(t) : t)));
}

export function withoutThread(data: ThreadPages | undefined, threadId: string): ThreadPages | undefined {
  return mapPages(data, (threads) => threads.filter((t) => t.id !== threadId));
}

export function renameInList(client: QueryClient, threadId: string, title: string): void {
  client.setQueryData<ThreadPages>(threadsKey, (data) => withThreadChanged(data, threadId, (t) => ({ ...t, title })));
}

/** The thread list, a page at a time: `fetchNextPage` when the reader nears its end. */
export function useThreadList() {
  return useInfiniteQuery({
    queryKey: threadsKey,
    queryFn: ({ pageParam }) => api.threads(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    refetchInterval: THREADS_REFRESH_MS,
    // Also in a background tab: another thread's agent may start waiting for you.
    refetchIntervalInBackground: true,
  });
}
