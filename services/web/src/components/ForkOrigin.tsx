import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import type { Thread } from "../chat/protocol";

/** "Edited from …": where a thread made by editing a message came from, with a link back to it. */
export function ForkOrigin({ thread, onOpen }: { thread: Thread | null; onOpen: (threadId: string) => void }) {
  const origin = thread?.forkedFrom ?? null;
  const read = useQuery({
    queryKey: ["thread", origin?.threadId],
    queryFn: () => api.thread(origin!.threadId),
    enabled: origin !== null,
    retry: false,
  });
  if (!origin) return null;
  const title = read.data?.thread.title;
  return (
    <div data-testid="fork-origin" className="border-b border-neutral-800/60 px-4 py-1.5 text-center text-xs text-neutral-400">
      Edited from{" "}
      {read.isError ? (
        <span>a thread that was deleted</span>
      ) : (
        <a
          href={`/chat/${encodeURIComponent(origin.threadId)}`}
          data-testid="fork-origin-link"
          onClick={(e) => {
            e.preventDefault();
            onOpen(origin.threadId);
          }}
          className="text-sky-300 underline underline-offset-2"
        >
          {title ? `“${title}”` : "the original thread"}
        </a>
      )}
      ; that thread is unchanged.
    </div>
  );
}
