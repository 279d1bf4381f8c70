import { describe, expect, it } from "vitest";
import { ordered } from "./chatMessage";
import { canSend, chatReducer, draftOf, initialChatState, isBusy, type ChatAction, type ChatState } from "./chatState";
import { AGENT_OFFLINE_MESSAGE, type ErrorCode, type ServerEvent, type StoredMessage } from "./protocol";
import { resumeAfterSeq } from "./resume";

const T = "thread-1";

function run(state: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(chatReducer, state);
}

function ev(event: ServerEvent): ChatAction {
  return { type: "event", event };
}

const token = (seq: number, text: string, turnId = "turn-1"): ChatAction =>
  ev({ type: "token", threadId: T, turnId, seq, text });

const started: ChatAction = ev({
  type: "started",
  threadId: T,
  turnId: "turn-1",
  userMessageId: "u1",
  messageId: "a1",
  clientMessageId: "local-1",
});

function stored(over: Partial<StoredMessage> & Pick<StoredMessage, "id" | "role">): StoredMessage {
  return { threadId: T, content: "", status: "complete", createdAt: "2025-01-01T00:00:00Z", ...over };
}

function openWithHistory(messages: StoredMessage[]): ChatState {
  return run(initialChatState, { type: "open", threadId: T }, { type: "history", threadId: T, messages });
}

function sent(content = "hello"): ChatState {
  return run(
    openWithHistory([]),
    { type: "draft", threadId: T, text: content },
    { type: "send", threadId: T, localId: "local-1", content, createdAt: "2025-01-01T00:00:01Z" },
  );
}

const assistant = (s: ChatState) => s.messages.find((m) => m.role === "assistant");

describe("sending and streaming", () => {
  it("shows the user's message at once and clears the input", () => {
    const s = sent();
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]).toMatchObject({ role: "user", content: "hello", pending: true });
    expect(draftOf(s, T)).toBe("");
    expect(isBusy(s)).toBe(true);
  });

  it("started names the user message and opens an empty streaming reply", () => {
    const s = run(sent(), started);
    expect(s.messages.map((m) => [m.id, m.role, m.status])).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "streaming"],
    ]);
    expect(s.messages[0].pending).toBe(false);
    expect(s.pending).toBeNull();
  });

  it("appends tokens in order as they arrive", () => {
    const s = run(sent(), started, token(1, "Hel"), token(2, "lo"), token(3, "!"));
    expect(assistant(s)?.content).toBe("Hello!");
    expect(s.turn?.cursor.lastSeq).toBe(3);
  });

  it("drops events whose seq was already applied", () => {
    const s = run(sent(), started, token(1, "a"), token(2, "b"), token(1, "a"), token(2, "b"), token(3, "c"));
    expect(assistant(s)?.content).toBe("abc");
  });

  it("ignores events of another thread", () => {
    const other: ChatAction = ev({ type: "token", threadId: "other", turnId: "turn-1", seq: 2, text: "X" });
    const s = run(sent(), started, token(1, "a"), other);
    expect(assistant(s)?.content).toBe("a");
    expect(s.turn?.cursor.lastSeq).toBe(1);
  });

  it("records tools where they ran in the text and fills in their result", () => {
    const s = run(
      sent(),
      started,
      token(1, "Let me look. "),
      ev({ type: "tool", threadId: T, turnId: "turn-1", seq: 2, toolUseId: "x", name: "Bash", input: { command: "ls" } }),
      ev({ type: "tool_result", threadId: T, turnId: "turn-1", seq: 3, toolUseId: "x", output: "a.txt", isError: false }),
      token(4, "Done."),
    );
    const a = assistant(s)!;
    expect(a.content).toBe("Let me look. Done.");
    expect(a.tools).toEqual([
      { toolUseId: "x", name: "Bash", input: { command: "ls" }, offset: 13, output: "a.txt", isError: false },
    ]);
  });

  it("done completes the reply with cost and duration and frees the input", () => {
    const s = run(
      sent(),
      started,
      token(1, "ok"),
      ev({
        type: "done",
        threadId: T,
        turnId: "turn-1",
        seq: 2,
        messageId: "a1",
        sessionId: "s",
        costUsd: 0.0123,
        durationMs: 2100,
      }),
    );
    expect(assistant(s)).toMatchObject({ status: "complete", costUsd: 0.0123, durationMs: 2100 });
    expect(isBusy(s)).toBe(false);
  });

  it("shows a status line while streaming and clears it when done", () => {
    let s = run(sent(), started, ev({ type: "status", threadId: T, turnId: "turn-1", seq: 1, message: "Retrying" }));
    expect(assistant(s)?.statusLine).toBe("Retrying");
    s = run(s, ev({ type: "done", threadId: T, turnId: "turn-1", seq: 2, messageId: "a1", sessionId: null, costUsd: null }));
    expect(assistant(s)?.statusLine).toBeNull();
  });

  it("drops a waiting-for-a-worker line once the reply's text flows", () => {
    const waiting = "Waiting for a worker to take this message…";
    let s = run(sent(), started, ev({ type: "status", threadId: T, turnId: "turn-1", seq: 1, message: waiting }));
    expect(assistant(s)?.statusLine).toBe(waiting);
    s = run(s, ev({ type: "token", threadId: T, turnId: "turn-1", seq: 2, text: "Hello" }));
    expect(assistant(s)).toMatchObject({ content: "Hello", statusLine: null });
  });
});

describe("errors", () => {
  it("thread_busy gives the text back to the input and removes the unsent bubble", () => {
    const s = run(sent("my precious words"), ev({ type: "error", threadId: T, code: "thread_busy", message: "busy" }));
    expect(draftOf(s, T)).toBe("my precious words");
    expect(s.messages).toHaveLength(0);
    expect(s.notice?.code).toBe("thread_busy");
    expect(isBusy(s)).toBe(false);
  });

  it("thread_busy keeps what was typed after sending too", () => {
    let s = sent("first");
    s = run(s, { type: "draft", threadId: T, text: "second" });
    s = run(s, ev({ type: "error", threadId: T, code: "thread_busy", message: "busy" }));
    expect(draftOf(s, T)).toBe("first\nsecond");
  });

  it("a refusal during a running turn leaves the turn alone", () => {
    const s = run(sent(), started, token(1, "a"), ev({ type: "error", threadId: T, code: "thread_busy", message: "busy" }));
    expect(s.turn).not.toBeNull();
    expect(assistant(s)?.status).toBe("streaming");
  });

  /** The reply streamed `partial`, then the turn's error frame came with this code and message. */
  function endedByError(partial: string, code: ErrorCode, message: string): ChatState {
    const error = ev({ type: "error", threadId: T, turnId: "turn-1", seq: 2, messageId: "a1", code, message });
    return run(sent(), started, token(1, partial), error);
  }

  it("a turn-ending error keeps the partial reply and marks it", () => {
    const s = endedByError("partial", "agent_error", "boom");
    expect(assistant(s)).toMatchObject({ content: "partial", status: "error", error: "boom" });
    expect(isBusy(s)).toBe(false);
  });

  it("Stop keeps the partial reply, marked stopped, and says so once", () => {
    const s = endedByError("part", "cancelled", "Stopped.");
    // The status reads "Stopped"; the stop's sentence is not shown a second time.
    expect(assistant(s)).toMatchObject({ content: "part", status: "cancelled", error: null });
    expect(isBusy(s)).toBe(false);
  });

  it("a stopped reply read back from the store says Stopped once too", () => {
    const s = openWithHistory([stored({ id: "a1", role: "assistant", content: "part", status: "cancelled", error: "Stopped." })]);
    expect(assistant(s)).toMatchObject({ content: "part", status: "cancelled", error: null });
  });

  it("agent_offline always reads as the documented sentence", () => {
    const s = run(
      sent(),
      started,
      ev({ type: "error", threadId: T, turnId: "turn-1", seq: 1, messageId: "a1", code: "agent_offline", message: "x" }),
    );
    expect(assistant(s)?.error).toBe(AGENT_OFFLINE_MESSAGE);
  });

  it("a message the server could not store comes back into the input with the reason", () => {
    const sentence = "Your message could not be stored (the database is unavailable); try again.";
    const s = run(sent("keep me"), ev({ type: "error", threadId: T, code: "agent_error", message: sentence }));
    expect(s.messages).toHaveLength(0);
    expect(draftOf(s, T)).toBe("keep me");
    expect(s.notice?.message).toBe(sentence);
    expect(isBusy(s)).toBe(false);
  });

  it("a turn that ended before this page heard it start keeps the stored message and says why", () => {
    const s = run(
      sent("hi"),
      ev({ type: "error", threadId: T, turnId: "turn-1", seq: 1, messageId: "a1", code: "agent_offline", message: "x" }),
    );
    expect(s.messages).toMatchObject([{ content: "hi", status: "complete", pending: false }]);
    expect(s.notice?.message).toBe(AGENT_OFFLINE_MESSAGE);
    expect(isBusy(s)).toBe(false);
  });

  it("a connection lost before started gives the text back", () => {
    const s = run(sent("keep me"), { type: "connection_lost" });
    expect(draftOf(s, T)).toBe("keep me");
    expect(s.messages).toHaveLength(0);
  });

  it("a connection lost mid-turn keeps the turn for resume", () => {
    const s = run(sent(), started, token(1, "a"), token(2, "b"), { type: "connection_lost" });
    expect(s.turn).not.toBeNull();
    expect(resumeAfterSeq(s.turn!.cursor)).toBe(2);
  });
});

describe("resume", () => {
  it("after a reconnect, replayed events are not doubled", () => {
    let s = run(sent(), started, token(1, "a"), token(2, "b"), { type: "connection_lost" });
    const after = resumeAfterSeq(s.turn!.cursor);
    // A gateway may replay a little more than asked; seq dedupe absorbs it.
    s = run(s, token(after, "b"), token(3, "c"), token(4, "d"));
    expect(assistant(s)?.content).toBe("abcd");
  });

  it("a reload with a streaming message resumes from zero and rebuilds the text", () => {
    let s = openWithHistory([
      stored({ id: "u1", role: "user", content: "hi" }),
      stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" }),
    ]);
    expect(s.turn).toMatchObject({ messageId: "a1", replaceOnReplay: true });
    expect(resumeAfterSeq(s.turn!.cursor)).toBe(0);
    // The stored partial text shows until the replay arrives…
    expect(assistant(s)?.content).toBe("Hel");
    // …then the replay from seq 1 replaces it rather than appending to it.
    s = run(s, token(1, "Hel", "turn-9"), token(2, "lo", "turn-9"), token(1, "Hel", "turn-9"));
    expect(assistant(s)?.content).toBe("Hello");
    expect(s.turn?.cursor).toEqual({ turnId: "turn-9", lastSeq: 2 });
  });

  it("a failed resume stops waiting for the turn, without a notice", () => {
    const s = run(
      openWithHistory([stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" })]),
      { type: "resume_failed", threadId: T },
    );
    expect(s.turn).toBeNull();
    expect(s.notice).toBeNull();
    expect(isBusy(s)).toBe(false);
  });

  /** History refetched while the reply streams ("abc" so far), with the stored reply as given. */
  function refetchDuringTurn(reply: Partial<StoredMessage>): ChatState {
    const s = run(sent(), started, token(1, "abc"));
    const messages = [stored({ id: "u1", role: "user", content: "hello" }), stored({ id: "a1", role: "assistant", ...reply })];
    return run(s, { type: "history", threadId: T, messages });
  }

  it("a refetch of history during a live turn keeps the live text", () => {
    const s = refetchDuringTurn({ content: "a", status: "streaming" });
    expect(assistant(s)?.content).toBe("abc");
    expect(s.turn).not.toBeNull();
  });

  it("history that shows the turn ended wins over a stale live turn", () => {
    const s = refetchDuringTurn({ content: "abcdef", status: "complete", meta: { costUsd: 0.5, durationMs: 4100 } });
    expect(assistant(s)).toMatchObject({ content: "abcdef", status: "complete", costUsd: 0.5, durationMs: 4100, tools: [] });
    expect(s.turn).toBeNull();
  });

  it("stored tools come back with their offsets", () => {
    const s = openWithHistory([
      stored({
        id: "a1",
        role: "assistant",
        content: "xy",
        meta: { tools: [{ toolUseId: "t", name: "Read", input: {}, output: "o", offset: 1 }] },
      }),
    ]);
    expect(assistant(s)?.tools[0]).toMatchObject({ name: "Read", offset: 1 });
  });
});

describe("drafts", () => {
  it("are kept per thread across switches", () => {
    let s = run(openWithHistory([]), { type: "draft", threadId: T, text: "half a thought" });
    s = run(s, { type: "open", threadId: "other" });
    expect(draftOf(s, "other")).toBe("");
    s = run(s, { type: "open", threadId: T });
    expect(draftOf(s, T)).toBe("half a thought");
  });

  it("the unsaved new conversation shows no thread's messages and keeps its own text", () => {
    let s = run(openWithHistory([stored({ id: "u1", role: "user", content: "old" })]), { type: "open", threadId: null });
    expect(s.threadId).toBeNull();
    expect(s.messages).toEqual([]);
    s = run(s, { type: "draft", threadId: "new", text: "a first message" });
    expect(draftOf(s, null)).toBe("a first message");
    s = run(s, { type: "open", threadId: T });
    s = run(s, { type: "open", threadId: null });
    expect(draftOf(s, null)).toBe("a first message");
  });

  it("a second send before the first is answered is ignored", () => {
    const s = run(sent("one"), { type: "send", threadId: T, localId: "local-2", content: "two", createdAt: "x" });
    expect(s.messages).toHaveLength(1);
  });
});

describe("a send that did not go through", () => {
  it("a lost connection takes back the unanswered message and gives its text back to the input", () => {
    const s = run(sent("half done"), { type: "connection_lost" });
    expect(s.messages).toEqual([]);
    expect(draftOf(s, T)).toBe("half done");
    expect(isBusy(s)).toBe(false);
  });

  it("a refusal without a turn (or without a thread) takes the message back and says why", () => {
    for (const threadId of [T, null]) {
      const s = run(sent("too much"), ev({ type: "error", threadId, code: "too_large", message: "Too large." }));
      expect(s.messages).toEqual([]);
      expect(draftOf(s, T)).toBe("too much");
      expect(s.notice).toMatchObject({ code: "too_large" });
      expect(canSend(s)).toBe(true);
    }
  });

  it("refused text goes back in front of what was typed meanwhile", () => {
    let s = run(sent("first try"), { type: "draft", threadId: T, text: "typed since" });
    s = run(s, ev({ type: "error", threadId: T, code: "agent_offline", message: "offline" }));
    expect(draftOf(s, T)).toBe("first try\ntyped since");
  });

  it("a second send while the first is unanswered is not shown", () => {
    const s = run(sent("one"), { type: "send", threadId: T, localId: "local-2", content: "two", createdAt: "2025-01-01T00:00:02Z" });
    expect(s.messages.map((m) => m.content)).toEqual(["one"]);
  });

  it("a reply being written keeps the page busy once the send is answered", () => {
    const s = run(sent(), started);
    expect(s.pending).toBeNull();
    expect(isBusy(s)).toBe(true);
  });
});

describe("other threads and notices", () => {
  it("a history of finished messages opens no turn: nothing streams, Stop is not offered", () => {
    const s = openWithHistory([
      stored({ id: "u1", role: "user", content: "hi" }),
      stored({ id: "a1", role: "assistant", content: "done", status: "complete" }),
    ]);
    expect(s.turn).toBeNull();
    expect(isBusy(s)).toBe(false);
  });

  it("opening the open thread again keeps what it shows; another thread's history is not shown", () => {
    let s = run(sent("hello"), { type: "open", threadId: T });
    expect(s.messages.map((m) => m.content)).toEqual(["hello"]);
    s = run(s, { type: "history", threadId: "other", messages: [stored({ id: "x", role: "user", content: "not here" })] });
    expect(s.messages.map((m) => m.content)).toEqual(["hello"]);
  });

  it("a failed resume of another thread leaves this one's turn running", () => {
    const s = run(sent(), started, { type: "resume_failed", threadId: "other" });
    expect(s.turn).not.toBeNull();
  });

  it("a notice shows until dismissed", () => {
    let s = run(openWithHistory([]), { type: "notice", notice: { code: "x", message: "Something to say." } });
    expect(s.notice?.message).toBe("Something to say.");
    s = run(s, { type: "dismiss_notice" });
    expect(s.notice).toBeNull();
  });

  it("the list keeps the conversation's order, then the queue, then a send not yet answered", () => {
    const [a, b, c] = ["a", "b", "c"].map((id) => ({ ...assistant(run(sent(), started))!, id }));
    const queuedOne = { ...a, id: "q", role: "user" as const, status: "queued" as const };
    const pendingOne = { ...a, id: "p", pending: true };
    expect(ordered([pendingOne, a, queuedOne, b, c]).map((m) => m.id)).toEqual(["a", "b", "c", "q", "p"]);
  });
});

describe("history read while a turn runs or a send waits", () => {
  const history = (messages: StoredMessage[]): ChatAction => ({ type: "history", threadId: T, messages });

  it("history read before the turn's first event shows the stored text until the replay replaces it", () => {
    let s = run(sent("hi"), started);
    s = run(s, history([stored({ id: "u1", role: "user", content: "hi" }), stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" })]));
    expect(assistant(s)?.content).toBe("Hel");
    s = run(s, token(1, "Hel"), token(2, "lo"));
    expect(assistant(s)?.content).toBe("Hello");
  });

  it("history that does not have the reply yet keeps the live one", () => {
    const s = run(sent("hi"), started, token(1, "abc"), history([stored({ id: "u1", role: "user", content: "hi" })]));
    expect(s.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      ["u1", "hi", "complete"],
      ["a1", "abc", "streaming"],
    ]);
    expect(s.turn?.messageId).toBe("a1");
  });

  it("history read while a send is unanswered keeps its bubble after the conversation", () => {
    const conversation = [stored({ id: "u0", role: "user", content: "earlier" }), stored({ id: "a0", role: "assistant", content: "yes" })];
    let s = run(openWithHistory(conversation), { type: "send", threadId: T, localId: "local-1", content: "now", createdAt: "x" });
    s = run(s, history(conversation));
    expect(s.messages.map((m) => [m.id, m.pending])).toEqual([
      ["u0", false],
      ["a0", false],
      ["local-1", true],
    ]);
  });
});

describe("events that change nothing here", () => {
  it("an event of a turn this page does not follow changes nothing", () => {
    const s = openWithHistory([stored({ id: "u1", role: "user", content: "hi" })]);
    expect(run(s, token(1, "stray"))).toBe(s);
  });

  it("a title while a reloaded reply waits for its replay does not stop the replay", () => {
    const s = run(
      openWithHistory([stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" })]),
      ev({ type: "title", threadId: T, title: "Greetings" }),
      token(1, "Hello", "turn-9"),
    );
    expect(assistant(s)?.content).toBe("Hello");
  });

  it("a send for another thread than the open one is not shown", () => {
    const s = run(openWithHistory([]), { type: "send", threadId: "other", localId: "l", content: "elsewhere", createdAt: "x" });
    expect(s.messages).toEqual([]);
    expect(isBusy(s)).toBe(false);
  });
});

describe("errors: which turn they end", () => {
  const reloaded = () => openWithHistory([stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" })]);

  it("an error of another turn is a notice; the running turn goes on", () => {
    const s = run(sent(), started, token(1, "a"), ev({ type: "error", threadId: T, turnId: "turn-2", code: "agent_error", message: "other" }));
    expect(s.turn).not.toBeNull();
    expect(assistant(s)?.status).toBe("streaming");
    expect(s.notice?.message).toBe("other");
  });

  it("a refusal while a reloaded reply waits for its replay leaves that turn alone", () => {
    const s = run(reloaded(), ev({ type: "error", threadId: T, code: "too_large", message: "Too large." }));
    expect(s.turn).not.toBeNull();
    expect(assistant(s)?.status).toBe("streaming");
  });

  it("the error that ends a reloaded reply's turn marks the reply", () => {
    const s = run(reloaded(), ev({ type: "error", threadId: T, turnId: "turn-9", seq: 1, messageId: "a1", code: "agent_error", message: "boom" }));
    expect(assistant(s)).toMatchObject({ status: "error", error: "boom" });
    expect(s.turn).toBeNull();
  });

  it("an error naming the turn without a seq ends the reply too", () => {
    const s = run(sent(), started, token(1, "part"), ev({ type: "error", threadId: T, turnId: "turn-1", code: "agent_error", message: "lost" }));
    expect(assistant(s)).toMatchObject({ content: "part", status: "error", error: "lost" });
    expect(isBusy(s)).toBe(false);
  });

  it("an error with nothing sent and no turn is only a notice", () => {
    const s = run(openWithHistory([stored({ id: "u1", role: "user", content: "hi" })]), ev({ type: "error", threadId: T, turnId: "turn-7", code: "agent_error", message: "late" }));
    expect(s.notice?.message).toBe("late");
    expect(s.messages.map((m) => m.id)).toEqual(["u1"]);
  });

  it("a refusal or a lost connection takes back only the unsent message; the conversation stays", () => {
    const conversation = [stored({ id: "u0", role: "user", content: "earlier" }), stored({ id: "a0", role: "assistant", content: "yes" })];
    const refusal = ev({ type: "error", threadId: T, code: "thread_busy", message: "busy" });
    for (const action of [refusal, { type: "connection_lost" } as const]) {
      const s = run(openWithHistory(conversation), { type: "send", threadId: T, localId: "local-1", content: "now", createdAt: "x" }, action);
      expect(s.messages.map((m) => m.id)).toEqual(["u0", "a0"]);
      expect(draftOf(s, T)).toBe("now");
    }
  });

  it("refused text replaces a draft of only spaces", () => {
    let s = run(sent("first try"), { type: "draft", threadId: T, text: "  " });
    s = run(s, ev({ type: "error", threadId: T, code: "thread_busy", message: "busy" }));
    expect(draftOf(s, T)).toBe("first try");
  });
});

describe("tools", () => {
  it("a tool's result goes to that tool only", () => {
    const tool = (seq: number, toolUseId: string): ChatAction =>
      ev({ type: "tool", threadId: T, turnId: "turn-1", seq, toolUseId, name: "Read", input: {} });
    const s = run(
      sent(),
      started,
      tool(1, "t1"),
      tool(2, "t2"),
      ev({ type: "tool_result", threadId: T, turnId: "turn-1", seq: 3, toolUseId: "t2", output: "two", isError: false }),
    );
    expect(assistant(s)?.tools.map((t) => [t.toolUseId, t.output])).toEqual([
      ["t1", undefined],
      ["t2", "two"],
    ]);
  });

  it("the replay after a reload rebuilds the tools from nothing", () => {
    const s = run(
      openWithHistory([
        stored({
          id: "a1",
          role: "assistant",
          content: "x",
          status: "streaming",
          meta: { tools: [{ toolUseId: "t1", name: "Read", input: {}, offset: 0 }] },
        }),
      ]),
      ev({ type: "tool", threadId: T, turnId: "turn-9", seq: 1, toolUseId: "t1", name: "Read", input: {} }),
    );
    expect(assistant(s)?.tools.map((t) => t.toolUseId)).toEqual(["t1"]);
  });
});
