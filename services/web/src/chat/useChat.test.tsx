// @vitest-environment jsdom
// The hook's wiring against a scripted gateway: `watch` after the thread's messages are read and after
// every reconnect, `resume` from the right seq when `watching` names a turn, `approve` frames.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppConfig } from "../api";
import type { ThreadPages } from "../threadList";
import type { ClientRequest, ServerEvent, StoredMessage, Thread } from "./protocol";
import { messagesKey, threadsKey, useChat } from "./useChat";

const T = "thread-1";
const config: AppConfig = { gatewayUrl: "ws://gateway.test/chat", runner: "simulator", authRequired: false };

/** A WebSocket whose server side the test plays. */
class ScriptedSocket {
  static OPEN = 1;
  static all: ScriptedSocket[] = [];
  readyState = 0;
  sent: ClientRequest[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((msg: { data: string }) => void) | null = null;
  onclose: ((close: CloseEvent) => void) | null = null;

  constructor(readonly url: string) {
    ScriptedSocket.all.push(this);
  }
  send(frame: string) {
    this.sent.push(JSON.parse(frame) as ClientRequest);
  }
  close() {
    this.readyState = 3;
  }
  // --- the server's side
  accept() {
    this.readyState = 1;
    this.onopen?.();
  }
  emit(event: ServerEvent) {
    this.onmessage?.({ data: JSON.stringify(event) });
  }
  drop() {
    this.readyState = 3;
    // A connection lost (1006), as a browser reports it.
    this.onclose?.({ code: 1006, reason: "" } as CloseEvent);
  }
}

let stored: StoredMessage[] = [];

beforeEach(() => {
  ScriptedSocket.all = [];
  vi.stubGlobal("WebSocket", ScriptedSocket);
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(JSON.stringify({ messages: stored }), { status: 200 })),
  );
  stored = [
    { id: "u1", threadId: T, role: "user", content: "hi", status: "complete", createdAt: "2025-01-01T00:00:00Z" },
    { id: "a1", threadId: T, role: "assistant", content: "Hel", status: "streaming", createdAt: "2025-01-01T00:00:01Z" },
  ];
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

let client = new QueryClient();

function mount(threadId: string | null = T) {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>{children}</QueryClientProvider>
  );
  return renderHook(() => useChat(config, threadId), { wrapper });
}

const latest = () => ScriptedSocket.all.at(-1)!;

/** The hook on a thread, its socket open and its `watch` sent. */
async function watchingThread() {
  const hook = mount();
  await waitFor(() => expect(ScriptedSocket.all).toHaveLength(1));
  act(() => latest().accept());
  await waitFor(() => expect(latest().sent).toEqual([{ type: "watch", threadId: T }]));
  return hook;
}
const token = (seq: number, text: string): ServerEvent => ({ type: "token", threadId: T, turnId: "turn-1", seq, text });
const reply = (chat: ReturnType<typeof useChat>) => chat.state.messages.find((m) => m.id === "a1");

describe("useChat follows the open thread", () => {
  it("a reload mid-reply watches the thread, resumes from zero, and rebuilds the reply", async () => {
    const { result } = await watchingThread();
    act(() => latest().emit({ type: "watching", threadId: T, turnId: "turn-1" }));
    expect(latest().sent.at(-1)).toEqual({ type: "resume", threadId: T, afterSeq: 0 });
    act(() => {
      latest().emit(token(1, "Hel"));
      latest().emit(token(2, "lo"));
    });
    expect(reply(result.current)?.content).toBe("Hello");
  });

  it("after a reconnect it watches again and resumes after the last event it applied", async () => {
    const { result } = await watchingThread();
    act(() => {
      latest().emit({ type: "watching", threadId: T, turnId: "turn-1" });
      latest().emit(token(1, "Hel"));
      latest().emit(token(2, "lo"));
      latest().drop();
    });
    await waitFor(() => expect(result.current.connection.status).toBe("waiting"));
    act(() => result.current.reconnectNow());
    await waitFor(() => expect(ScriptedSocket.all).toHaveLength(2));
    act(() => latest().accept());
    await waitFor(() => expect(latest().sent).toEqual([{ type: "watch", threadId: T }]));
    act(() => latest().emit({ type: "watching", threadId: T, turnId: "turn-1" }));
    expect(latest().sent.at(-1)).toEqual({ type: "resume", threadId: T, afterSeq: 2 });
    act(() => latest().emit(token(3, "!")));
    expect(reply(result.current)?.content).toBe("Hello!");
  });

  it("an answer to an approval request goes out as an approve frame", async () => {
    const { result } = await watchingThread();
    act(() => {
      latest().emit({ type: "watching", threadId: T, turnId: "turn-1" });
      latest().emit({
        type: "approval",
        threadId: T,
        turnId: "turn-1",
        seq: 1,
        requestId: "r1",
        tool: "Bash",
        input: { command: "ls" },
        suggestions: [],
      });
    });
    expect(result.current.waiting.map((a) => a.requestId)).toEqual(["r1"]);
    act(() => {
      result.current.answer("r1", { decision: "deny", message: "not now" });
    });
    expect(latest().sent.at(-1)).toEqual({ type: "approve", threadId: T, requestId: "r1", decision: "deny", message: "not now" });
  });
});

describe("useChat keeps the thread list and the stored messages current", () => {
  const thread = (title: string): Thread => ({
    id: T,
    title,
    claudeSessionId: null,
    createdAt: "2025-01-01T00:00:00Z",
    updatedAt: "2025-01-01T00:00:00Z",
  });
  const listed = (title: string): ThreadPages => ({
    pages: [{ threads: [thread(title)], nextCursor: null }],
    pageParams: [null],
  });
  const listStale = () => client.getQueryState(threadsKey)?.isInvalidated ?? false;
  const messagesStale = () => client.getQueryState(messagesKey(T))?.isInvalidated ?? false;

  it("a resume the gateway has nothing for reads the thread's messages again and shows what the store holds", async () => {
    const { result } = await watchingThread();
    await waitFor(() => expect(reply(result.current)?.content).toBe("Hel"));
    stored = [stored[0]!, { ...stored[1]!, content: "Hello, all of it", status: "complete" }];
    act(() => latest().emit({ type: "watching", threadId: T, turnId: "turn-1" }));
    expect(latest().sent.at(-1)).toEqual({ type: "resume", threadId: T, afterSeq: 0 });
    act(() => latest().emit({ type: "error", threadId: T, code: "invalid_message", message: "Nothing to resume." }));
    await waitFor(() => expect(reply(result.current)).toMatchObject({ content: "Hello, all of it", status: "complete" }));
    expect(result.current.state.turn).toBeNull();
  });

  it("a title renames the thread in the list at once; a request, its answer and a reply's end mark the list for a new read", async () => {
    await watchingThread();
    client.setQueryData(threadsKey, listed("New conversation"));
    act(() => latest().emit({ type: "title", threadId: T, title: "Plans for Monday" }));
    expect(client.getQueryData<ThreadPages>(threadsKey)?.pages[0]?.threads[0]?.title).toBe("Plans for Monday");
    expect(listStale()).toBe(true);
    const frames: ServerEvent[] = [
      { type: "watching", threadId: T, turnId: "turn-1" },
      { type: "approval", threadId: T, turnId: "turn-1", seq: 1, requestId: "r1", tool: "Bash", input: {}, suggestions: [] },
      { type: "approval_answered", threadId: T, turnId: "turn-1", seq: 2, requestId: "r1", decision: "allow" },
      { type: "done", threadId: T, turnId: "turn-1", seq: 3, messageId: "a1", sessionId: null, costUsd: null },
    ];
    for (const frame of frames.slice(1)) {
      client.setQueryData(threadsKey, listed("Plans for Monday"));
      if (frame.type === "approval") act(() => latest().emit(frames[0]!));
      act(() => latest().emit(frame));
      expect(listStale(), frame.type).toBe(true);
    }
    expect(messagesStale()).toBe(true);
  });

  it("a token changes neither the list nor the stored messages", async () => {
    await watchingThread();
    client.setQueryData(threadsKey, listed("Plans"));
    act(() => {
      latest().emit({ type: "watching", threadId: T, turnId: "turn-1" });
      latest().emit(token(1, "Hel"));
    });
    expect([listStale(), messagesStale()]).toEqual([false, false]);
  });
});

describe("useChat in a new conversation (no thread stored yet)", () => {
  beforeEach(() => localStorage.clear());

  it("can send, keeps its text across a reload, and hands it to the thread its first message stores", async () => {
    localStorage.setItem("sandchat.draft.new", "typed before the reload");
    const { result } = mount(null);
    await waitFor(() => expect(result.current.draft).toBe("typed before the reload"));
    expect(result.current.canSend).toBe(true);
    act(() => result.current.setDraft("the first message"));
    expect(localStorage.getItem("sandchat.draft.new")).toBe("the first message");
    act(() => result.current.moveNewDraft("stored-1"));
    expect(result.current.draft).toBe("");
    expect(localStorage.getItem("sandchat.draft.new")).toBeNull();
    expect(localStorage.getItem("sandchat.draft.stored-1")).toBe("the first message");
    expect(result.current.state.drafts["stored-1"]).toBe("the first message");
  });
});

describe("useChat's actions as the gateway receives them", () => {
  it("send trims the text, shows it at once and sends one message frame; retry and cancel send theirs", async () => {
    const { result } = await watchingThread();
    let ok = false;
    act(() => {
      ok = result.current.send("  do it  ");
    });
    expect(ok).toBe(true);
    const frame = latest().sent.at(-1);
    expect(frame).toMatchObject({ type: "message", threadId: T, content: "do it" });
    expect(result.current.state.messages.at(-1)).toMatchObject({ role: "user", content: "do it", pending: true });
    expect(result.current.canSend).toBe(false);
    // Only one unanswered send at a time; blank text is never sent.
    act(() => {
      expect(result.current.send("another")).toBe(false);
      expect(result.current.send("   ")).toBe(false);
    });
    expect(latest().sent.filter((r) => r.type === "message")).toHaveLength(1);

    act(() => {
      expect(result.current.retry()).toBe(true);
      result.current.cancel();
    });
    expect(latest().sent.slice(-2)).toEqual([
      { type: "retry", threadId: T },
      { type: "cancel", threadId: T },
    ]);
  });

  it("while not connected nothing is sent and the text stays in the input", async () => {
    const { result } = await watchingThread();
    act(() => result.current.setDraft("keep me"));
    act(() => latest().drop());
    await waitFor(() => expect(result.current.connection.status).toBe("waiting"));
    act(() => {
      expect(result.current.send("keep me")).toBe(false);
      expect(result.current.retry()).toBe(false);
      expect(result.current.answer("r1", { decision: "allow" })).toBe(false);
    });
    expect(result.current.draft).toBe("keep me");
    expect(result.current.state.messages.some((m) => m.pending)).toBe(false);
  });
});
