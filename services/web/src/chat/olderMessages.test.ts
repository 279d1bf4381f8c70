// @vitest-environment jsdom
import { act, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, type MessagePage } from "../api";
import { pushedOut, useOlderMessages } from "./olderMessages";
import type { StoredMessage } from "./protocol";

const message = (id: string, at: number): StoredMessage => ({
  id,
  threadId: "t",
  role: "user",
  content: id,
  status: "complete",
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, at)).toISOString(),
});
const page = (...messages: StoredMessage[]): MessagePage => ({ messages, olderCursor: "x", newerCursor: null });

describe("the newest page moving on", () => {
  it("hands over the messages newer ones pushed out, so no gap opens", () => {
    const a = message("a", 1);
    const b = message("b", 2);
    const c = message("c", 3);
    const d = message("d", 4);
    expect(pushedOut(page(a, b, c), page(c, d, message("e", 5))).map((m) => m.id)).toEqual(["a", "b"]);
  });

  it("hands over nothing on the first read or when the page kept everything", () => {
    const a = message("a", 1);
    expect(pushedOut(undefined, page(a))).toEqual([]);
    expect(pushedOut(page(a), page(a, message("b", 2)))).toEqual([]);
  });

  it("hands over only what is older than the new page's first message, by time and then by id", () => {
    const cases: [string, StoredMessage[], StoredMessage[], string[]][] = [
      ["gone from the store, newer than the page", [message("a", 1), message("b", 2), message("c", 3)], [message("a", 1), message("c", 3), message("d", 4)], []],
      ["pushed out at the same time, smaller id", [message("a", 2), message("b", 2)], [message("b", 2), message("c", 3)], ["a"]],
      ["gone at the same time, larger id", [message("b", 2), message("c", 2)], [message("b", 2), message("d", 3)], []],
      ["gone, later with a smaller id", [message("b", 2), message("a", 3)], [message("b", 2), message("c", 4)], []],
    ];
    for (const [what, previous, next, handed] of cases) {
      expect(pushedOut(page(...previous), page(...next)).map((m) => m.id), what).toEqual(handed);
    }
  });
});

describe("older pages as the thread shows them", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The store answers each read of an older page with the next of `pages`, and counts the reads. */
  function store(...pages: MessagePage[]) {
    return vi.spyOn(api, "messages").mockImplementation(() => Promise.resolve(pages.shift()!));
  }
  const older = (cursor: string | null, ...messages: StoredMessage[]): MessagePage => ({ messages, olderCursor: cursor, newerCursor: null });

  it("the unsaved new conversation, and a thread whose newest page is not read yet, have no older messages", () => {
    const { result, rerender } = renderHook(({ id }: { id: string | null }) => useOlderMessages(id, undefined), {
      initialProps: { id: null as string | null },
    });
    expect(result.current).toMatchObject({ messages: [], hasMore: false });
    rerender({ id: "t" });
    expect(result.current).toMatchObject({ messages: [], hasMore: false });
  });

  it("scrolling up reads the page before the newest one, shows it first, and stops at the start", async () => {
    const reads = store(older(null, message("a", 1), message("b", 2)));
    const { result } = renderHook(() => useOlderMessages("t", older("cur1", message("c", 3))));
    expect(result.current).toMatchObject({ messages: [], hasMore: true, loading: false });
    await act(() => result.current.loadOlder());
    expect(reads).toHaveBeenCalledWith("t", { before: "cur1", limit: 100 });
    expect(result.current.messages.map((m) => m.id)).toEqual(["a", "b"]);
    expect(result.current).toMatchObject({ hasMore: false, loading: false });
    await act(() => result.current.loadOlder());
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it("a jump to a message reads back page by page until it is found, and says when it is not", async () => {
    const reads = store(older("cur2", message("x", 2)), older(null, message("a0", 0), message("a", 1)));
    const { result } = renderHook(() => useOlderMessages("t", older("cur1", message("c", 3))));
    let found = false;
    await act(async () => {
      found = await result.current.reach("a");
    });
    expect(found).toBe(true);
    expect(reads.mock.calls.map(([, q]) => q?.before)).toEqual(["cur1", "cur2"]);
    expect(result.current.messages.map((m) => m.id)).toEqual(["a0", "a", "x"]);
    await act(async () => {
      found = await result.current.reach("x");
    });
    expect(found).toBe(true);
    await act(async () => {
      found = await result.current.reach("nowhere");
    });
    expect(found).toBe(false);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it("a scroll and a jump at once read the page once", async () => {
    const reads = store(older(null, message("a", 1)));
    const { result } = renderHook(() => useOlderMessages("t", older("cur1", message("c", 3))));
    await act(() => Promise.all([result.current.loadOlder(), result.current.reach("a")]));
    expect(reads).toHaveBeenCalledTimes(1);
    expect(result.current.messages.map((m) => m.id)).toEqual(["a"]);
  });

  /** A read of an older page that answers only when the test says so. */
  function slowStore() {
    let answer: (page: MessagePage) => void = () => undefined;
    const reads = vi.spyOn(api, "messages").mockImplementation(
      () =>
        new Promise<MessagePage>((resolve) => {
          answer = resolve;
        }),
    );
    return { reads, answer: (page: MessagePage) => answer(page) };
  }

  it("says it is loading while a page is read, and no longer once it has come", async () => {
    const { answer } = slowStore();
    const { result } = renderHook(() => useOlderMessages("t", older("cur1", message("c", 3))));
    let scrolled: Promise<void> = Promise.resolve();
    act(() => {
      scrolled = result.current.loadOlder();
    });
    expect(result.current.loading).toBe(true);
    await act(async () => {
      answer(older(null, message("a", 1)));
      await scrolled;
    });
    expect(result.current).toMatchObject({ loading: false, hasMore: false });
    expect(result.current.messages.map((m) => m.id)).toEqual(["a"]);
  });

  it("a page that comes after the person switched threads is not shown in the other thread", async () => {
    const { answer } = slowStore();
    const { result, rerender } = renderHook(({ id, newest }) => useOlderMessages(id, newest), {
      initialProps: { id: "t", newest: older("cur1", message("c", 3)) },
    });
    let scrolled: Promise<void> = Promise.resolve();
    act(() => {
      scrolled = result.current.loadOlder();
    });
    rerender({ id: "other", newest: older("other-cur", message("z", 9)) });
    await act(async () => {
      answer(older(null, message("a", 1)));
      await scrolled;
    });
    expect(result.current).toMatchObject({ messages: [], hasMore: true, loading: false });
  });

  it("messages pushed out of the newest page join the older ones once; another thread starts with none", async () => {
    const { result, rerender } = renderHook(({ id, newest }) => useOlderMessages(id, newest), {
      initialProps: { id: "t", newest: older("cur1", message("b", 2), message("c", 3)) },
    });
    rerender({ id: "t", newest: older("cur2", message("c", 3), message("d", 4)) });
    rerender({ id: "t", newest: older("cur3", message("d", 4), message("e", 5)) });
    expect(result.current.messages.map((m) => m.id)).toEqual(["b", "c"]);
    rerender({ id: "other", newest: older(null, message("z", 9)) });
    expect(result.current).toMatchObject({ messages: [], hasMore: false });
  });
});
