// Older pages of the open thread: the store sends the newest page; scrolling up asks for the ones before.

import { useCallback, useEffect, useRef, useState } from "react";
import { api, type MessagePage } from "../api";
import type { StoredMessage } from "./protocol";

/** How many messages one scroll to the top brings in. */
const OLDER_PAGE = 100;
/** A jump to a message reads back at most this many pages looking for it. */
const JUMP_PAGES = 40;

function before(a: StoredMessage, b: StoredMessage): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}

/**
 * Messages of the previous newest page that the next newest page no longer holds: newer messages
 * pushed them out. They are kept with the older ones, so no gap opens between the pages.
 */
export function pushedOut(previous: MessagePage | undefined, next: MessagePage): StoredMessage[] {
  const first = next.messages[0];
  if (!previous || !first) return [];
  const kept = new Set(next.messages.map((m) => m.id));
  return previous.messages.filter((m) => !kept.has(m.id) && before(m, first));
}

interface Older {
  threadId: string | null;
  messages: StoredMessage[];
  cursor: string | null;
}

export interface OlderMessages {
  messages: StoredMessage[];
  hasMore: boolean;
  loading: boolean;
  loadOlder: () => Promise<void>;
  /** Read older pages until the message is among them (a search hit); whether it was found. */
  reach: (messageId: string) => Promise<boolean>;
}

export function useOlderMessages(threadId: string | null, page: MessagePage | undefined): OlderMessages {
  const [older, setOlder] = useState<Older>({ threadId: null, messages: [], cursor: null });
  const [loading, setLoading] = useState(false);
  const previous = useRef<{ threadId: string; page: MessagePage } | null>(null);
  const current = useRef(older);
  current.current = older;

  useEffect(() => {
    if (!threadId || !page) return;
    const prior = previous.current?.threadId === threadId ? previous.current.page : undefined;
    previous.current = { threadId, page };
    setOlder((o) => {
      if (o.threadId !== threadId) return { threadId, messages: [], cursor: page.olderCursor };
      const known = new Set(o.messages.map((m) => m.id));
      const dropped = pushedOut(prior, page).filter((m) => !known.has(m.id));
      return dropped.length ? { ...o, messages: [...o.messages, ...dropped] } : o;
    });
  }, [threadId, page]);

  // One read at a time: a scroll and a jump never ask for the same page twice.
  const reading = useRef<Promise<StoredMessage[]> | null>(null);
  const readPage = useCallback((): Promise<StoredMessage[]> => {
    if (reading.current) return reading.current;
    const o = current.current;
    if (!o.threadId || o.cursor === null) return Promise.resolve([]);
    const read = api
      .messages(o.threadId, { before: o.cursor, limit: OLDER_PAGE })
      .then((next) => {
        if (current.current.threadId !== o.threadId) return [];
        const known = new Set(current.current.messages.map((m) => m.id));
        const fresh = next.messages.filter((m) => !known.has(m.id));
        const updated = { ...current.current, messages: [...fresh, ...current.current.messages], cursor: next.olderCursor };
        current.current = updated;
        setOlder(updated);
        return next.messages;
      })
      .finally(() => {
        reading.current = null;
      });
    reading.current = read;
    return read;
  }, []);

  const loadOlder = useCallback(async () => {
    if (loading) return;
    setLoading(true);
    try {
      await readPage();
    } finally {
      setLoading(false);
    }
  }, [loading, readPage]);

  const reach = useCallback(
    async (messageId: string): Promise<boolean> => {
      if (current.current.messages.some((m) => m.id === messageId)) return true;
      for (let read = 0; read < JUMP_PAGES && current.current.cursor !== null; read += 1) {
        if ((await readPage()).some((m) => m.id === messageId)) return true;
      }
      return false;
    },
    [readPage],
  );

  const mine = older.threadId === threadId;
  return {
    messages: mine ? older.messages : [],
    hasMore: mine && older.cursor !== null,
    loading,
    loadOlder,
    reach,
  };
}
