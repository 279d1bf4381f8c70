// The chat state under the live protocol: queued messages, turns started elsewhere, `watching`,
// approvals. (chatState.test.ts covers sending, streaming, errors and resume.)
import { describe, expect, it } from "vitest";
import { canSend, chatReducer, initialChatState, queuedMessages, waitingApprovals, type ChatAction, type ChatState } from "./chatState";
import { resumeFor } from "./following";
import type { ServerEvent, StoredMessage, WatchingEvent } from "./protocol";

const T = "thread-1";

function run(state: ChatState, ...actions: ChatAction[]): ChatState {
  return actions.reduce(chatReducer, state);
}
const ev = (event: ServerEvent): ChatAction => ({ type: "event", event });
const token = (seq: number, text: string, turnId = "turn-1"): ChatAction =>
  ev({ type: "token", threadId: T, turnId, seq, text });
// `mine`: the answer to this page's own send (it echoes the send's local id).
const started = (turnId: string, userMessageId: string, messageId: string, mine?: string): ChatAction =>
  ev({ type: "started", threadId: T, turnId, userMessageId, messageId, clientMessageId: mine });
const queued = (messageId: string, position = 1, mine?: string): ChatAction =>
  ev({ type: "queued", threadId: T, messageId, position, clientMessageId: mine });
const watching = (turnId: string | null): WatchingEvent => ({ type: "watching", threadId: T, turnId });
const send = (localId: string, content: string): ChatAction => ({
  type: "send",
  threadId: T,
  localId,
  content,
  createdAt: "2025-01-01T00:00:05Z",
});
const approval = (seq: number, requestId: string, tool = "Bash", input: unknown = { command: "ls" }): ChatAction =>
  ev({ type: "approval", threadId: T, turnId: "turn-1", seq, requestId, tool, input, suggestions: [] });
const answered = (seq: number, requestId: string, decision: "allow" | "deny" | "interrupted" | "allow_always") =>
  ev({ type: "approval_answered", threadId: T, turnId: "turn-1", seq, requestId, decision });

function stored(over: Partial<StoredMessage> & Pick<StoredMessage, "id" | "role">): StoredMessage {
  return { threadId: T, content: "", status: "complete", createdAt: "2025-01-01T00:00:00Z", ...over };
}
const history = (messages: StoredMessage[]): ChatAction => ({ type: "history", threadId: T, messages });

function opened(messages: StoredMessage[] = []): ChatState {
  return run(initialChatState, { type: "open", threadId: T }, history(messages));
}

/** A reply streaming for this page's first message. */
function streaming(): ChatState {
  return run(opened(), send("local-1", "first"), started("turn-1", "u1", "a1", "local-1"), token(1, "Working"));
}

/** A turn this page did not see start, followed from `watching` on, with its first text; then `more`. */
function followedFromMiddle(before: StoredMessage[], text: string, ...more: ChatAction[]): ChatState {
  return run(opened(before), ev(watching("turn-5")), token(1, text, "turn-5"), ...more);
}

const view = (s: ChatState) => s.messages.map((m) => [m.id, m.role, m.status]);
const reply = (s: ChatState, id = "a1") => s.messages.find((m) => m.id === id)!;

describe("queued messages", () => {
  it("a message sent while the agent works is shown queued after the reply being written", () => {
    const s = run(streaming(), send("local-2", "second"), queued("u2", 1, "local-2"));
    expect(view(s)).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "streaming"],
      ["u2", "user", "queued"],
    ]);
    expect(s.pending).toBeNull();
    expect(s.turn?.messageId).toBe("a1");
  });

  it("the same queued event heard twice shows the message once", () => {
    const s = run(streaming(), send("local-2", "second"), queued("u2", 1, "local-2"), queued("u2"));
    expect(queuedMessages(s).map((m) => m.id)).toEqual(["u2"]);
  });

  it("several queued messages keep the order they will start in", () => {
    const s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"), send("l3", "third"), queued("u3", 2, "l3"));
    expect(queuedMessages(s).map((m) => m.content)).toEqual(["second", "third"]);
  });

  it("a removed queued message disappears", () => {
    const s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"), ev({ type: "unqueued", threadId: T, messageId: "u2" }));
    expect(s.messages.map((m) => m.id)).toEqual(["u1", "a1"]);
  });

  it("its started turns it into a normal message before the new reply, the rest staying queued", () => {
    let s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"), send("l3", "third"), queued("u3", 2, "l3"));
    s = run(
      s,
      ev({ type: "done", threadId: T, turnId: "turn-1", seq: 2, messageId: "a1", sessionId: "s", costUsd: null }),
      started("turn-2", "u2", "a2"),
      token(1, "Next", "turn-2"),
    );
    expect(view(s)).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "complete"],
      ["u2", "user", "complete"],
      ["a2", "assistant", "streaming"],
      ["u3", "user", "queued"],
    ]);
    expect(reply(s, "a2").content).toBe("Next");
  });

  it("a message another tab queued is read from the store and shown queued", () => {
    let s = run(streaming(), queued("u9"));
    expect(s.stale).toBe(true);
    s = run(
      s,
      history([
        stored({ id: "u1", role: "user", content: "first" }),
        stored({ id: "a1", role: "assistant", content: "W", status: "streaming" }),
        stored({ id: "u9", role: "user", content: "from the other tab", status: "queued" }),
      ]),
    );
    expect(s.stale).toBe(false);
    expect(queuedMessages(s).map((m) => m.content)).toEqual(["from the other tab"]);
    expect(reply(s).content).toBe("Working");
  });

  it("queued messages from the store come after a reply created later than them", () => {
    const s = opened([
      stored({ id: "u1", role: "user", content: "first" }),
      stored({ id: "a1", role: "assistant", status: "complete" }),
      stored({ id: "u2", role: "user", content: "second" }),
      stored({ id: "u3", role: "user", content: "third", status: "queued" }),
      stored({ id: "a2", role: "assistant", content: "x", status: "streaming" }),
    ]);
    expect(s.messages.map((m) => m.id)).toEqual(["u1", "a1", "u2", "a2", "u3"]);
  });
});

describe("turns this page did not send", () => {
  it("a started from another tab opens a streaming reply and reads the store for the message", () => {
    let s = run(opened([stored({ id: "u1", role: "user", content: "old" })]), started("turn-7", "u7", "a7"));
    expect(reply(s, "a7").status).toBe("streaming");
    expect(s.stale).toBe(true);
    s = run(
      s,
      token(1, "Hi", "turn-7"),
      history([
        stored({ id: "u1", role: "user", content: "old" }),
        stored({ id: "u7", role: "user", content: "asked elsewhere" }),
        stored({ id: "a7", role: "assistant", content: "", status: "streaming" }),
      ]),
    );
    expect(s.messages.map((m) => [m.id, m.content])).toEqual([
      ["u1", "old"],
      ["u7", "asked elsewhere"],
      ["a7", "Hi"],
    ]);
  });

  it("another tab's message queued while this page waits for its answer is not taken for this page's", () => {
    const s = run(streaming(), send("l2", "mine"), queued("u7", 1), queued("u2", 2, "l2"));
    expect(s.messages.find((m) => m.id === "u2")).toMatchObject({ content: "mine", status: "queued" });
    expect(s.messages.some((m) => m.id === "l2")).toBe(false);
    expect(s.stale).toBe(true); // the other tab's message is read from the store
  });

  it("a queued message starting does not take this page's unanswered send", () => {
    let s = run(streaming(), send("l2", "mine"), queued("u2", 1, "l2"));
    s = run(
      s,
      ev({ type: "done", threadId: T, turnId: "turn-1", seq: 2, messageId: "a1", sessionId: "s", costUsd: null }),
      send("l3", "also mine"),
      started("turn-2", "u2", "a2"),
    );
    expect(s.pending?.localId).toBe("l3");
    expect(s.messages.find((m) => m.id === "l3")).toMatchObject({ content: "also mine", pending: true });
  });
});

describe("watching", () => {
  const reloaded = () =>
    opened([
      stored({ id: "u1", role: "user", content: "hi" }),
      stored({ id: "a1", role: "assistant", content: "Hel", status: "streaming" }),
    ]);

  it("names the running turn of a reloaded thread, and the resume starts from zero", () => {
    const w = watching("turn-1");
    const s = run(reloaded(), ev(w));
    expect(s.turn?.cursor).toEqual({ turnId: "turn-1", lastSeq: 0 });
    expect(resumeFor(s, w)).toEqual({ type: "resume", threadId: T, afterSeq: 0 });
  });

  it("after a reconnect the resume asks for what follows the last applied event", () => {
    const w = watching("turn-1");
    const s = run(streaming(), token(2, "…"), { type: "connection_lost" }, ev(w));
    expect(resumeFor(s, w)?.afterSeq).toBe(2);
  });

  it("the replay after a reload replaces the stored partial text", () => {
    const s = run(reloaded(), ev(watching("turn-1")), token(1, "Hel"), token(2, "lo"));
    expect(reply(s).content).toBe("Hello");
  });

  it("no running turn ends a reply the store still showed streaming, and the store is read again", () => {
    const s = run(reloaded(), ev(watching(null)));
    expect(s.turn).toBeNull();
    expect(s.stale).toBe(true);
    expect(resumeFor(s, watching(null))).toBeNull();
  });

  it("a turn that started after the store was read is followed until its message is known", () => {
    let s = followedFromMiddle([stored({ id: "u1", role: "user", content: "hi" })], "abc");
    expect(s.messages.at(-1)).toMatchObject({ role: "assistant", content: "abc", status: "streaming" });
    s = run(
      s,
      history([
        stored({ id: "u1", role: "user", content: "hi" }),
        stored({ id: "u5", role: "user", content: "other tab" }),
        stored({ id: "a5", role: "assistant", content: "a", status: "streaming" }),
      ]),
      token(2, "d", "turn-5"),
      ev({ type: "done", threadId: T, turnId: "turn-5", seq: 3, messageId: "a5", sessionId: "s", costUsd: null }),
    );
    expect(s.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      ["u1", "hi", "complete"],
      ["u5", "other tab", "complete"],
      ["a5", "abcd", "complete"],
    ]);
  });

  it("done names the message of a reply followed from its middle when the store was not read again", () => {
    const s = followedFromMiddle(
      [],
      "x",
      ev({ type: "done", threadId: T, turnId: "turn-5", seq: 2, messageId: "a5", sessionId: null, costUsd: null }),
    );
    expect(s.messages.map((m) => [m.id, m.status])).toEqual([["a5", "complete"]]);
  });
});

describe("approvals", () => {
  it("a reply keeps its answered requests when the store is read after it ends", () => {
    let s = run(streaming(), approval(2, "r1"), answered(3, "r1", "allow"));
    s = run(s, ev({ type: "done", threadId: T, turnId: "turn-1", seq: 4, messageId: "a1", sessionId: null, costUsd: null }));
    s = run(s, history([stored({ id: "u1", role: "user", content: "first" }), stored({ id: "a1", role: "assistant", content: "Working" })]));
    expect(reply(s).status).toBe("complete");
    expect(reply(s).approvals.map((a) => [a.requestId, a.decision])).toEqual([["r1", "allow"]]);
  });

  it("a request shows as a waiting card in the reply, where the agent asked", () => {
    const s = run(streaming(), approval(2, "r1", "Bash", { command: "rm -rf build" }));
    const [card] = reply(s).approvals;
    expect(card).toMatchObject({ requestId: "r1", tool: "Bash", input: { command: "rm -rf build" }, decision: null, offset: 7 });
    expect(waitingApprovals(s).map((a) => a.requestId)).toEqual(["r1"]);
  });

  it("several requests at once all wait", () => {
    const s = run(streaming(), approval(2, "r1"), approval(3, "r2", "Edit", {}), approval(4, "r3", "Write", {}));
    expect(waitingApprovals(s).map((a) => a.requestId)).toEqual(["r1", "r2", "r3"]);
  });

  it("an answer from anyone shows the decision and the card stops waiting", () => {
    const s = run(streaming(), approval(2, "r1"), approval(3, "r2"), answered(4, "r1", "deny"));
    expect(reply(s).approvals.map((a) => [a.requestId, a.decision])).toEqual([
      ["r1", "deny"],
      ["r2", null],
    ]);
    expect(waitingApprovals(s).map((a) => a.requestId)).toEqual(["r2"]);
  });

  it("this page's answer shows as sent until the winning decision arrives, which is the one shown", () => {
    let s = run(streaming(), approval(2, "r1"), { type: "answer", requestId: "r1", decision: "allow" });
    expect(reply(s).approvals[0]).toMatchObject({ answering: "allow", decision: null });
    s = run(s, answered(3, "r1", "deny"));
    expect(reply(s).approvals[0]).toMatchObject({ answering: null, decision: "deny" });
  });

  it("an answer that lost gives the buttons back and says why", () => {
    const s = run(
      streaming(),
      approval(2, "r1"),
      { type: "answer", requestId: "r1", decision: "allow" },
      ev({ type: "error", threadId: T, code: "invalid_message", message: "This request was already answered." }),
    );
    expect(reply(s).approvals[0].answering).toBeNull();
    expect(s.notice?.message).toBe("This request was already answered.");
  });

  it("a reload rebuilds the cards from the replay, answered ones answered, none doubled", () => {
    let s = opened([
      stored({ id: "u1", role: "user", content: "hi" }),
      stored({ id: "a1", role: "assistant", content: "Working", status: "streaming" }),
    ]);
    s = run(s, ev(watching("turn-1")));
    const replay = [token(1, "Working"), approval(2, "r1"), answered(3, "r1", "allow"), approval(4, "r2")];
    s = run(s, ...replay, ...replay);
    expect(reply(s).content).toBe("Working");
    expect(reply(s).approvals.map((a) => [a.requestId, a.decision])).toEqual([
      ["r1", "allow"],
      ["r2", null],
    ]);
  });

  it("a request answered interrupted (the worker died) says so", () => {
    const s = run(streaming(), approval(2, "r1"), answered(3, "r1", "interrupted"));
    expect(reply(s).approvals[0].decision).toBe("interrupted");
  });

  it("a turn interrupted while a request waits closes the request as interrupted", () => {
    const s = run(
      streaming(),
      approval(2, "r1"),
      ev({ type: "error", threadId: T, turnId: "turn-1", seq: 3, messageId: "a1", code: "interrupted", message: "The worker stopped." }),
    );
    expect(reply(s)).toMatchObject({ status: "interrupted", error: "The worker stopped." });
    expect(reply(s).approvals[0].decision).toBe("interrupted");
    expect(waitingApprovals(s)).toEqual([]);
  });
});

/** Two requests in the streaming reply, r1 answered "allow" and r2 waiting; then `more`. */
const oneAnsweredOneWaiting = (...more: ChatAction[]): ChatState =>
  run(streaming(), approval(2, "r1"), approval(3, "r2"), answered(4, "r1", "allow"), ...more);

describe("answers and refusals as the page shows them", () => {
  it("answering one of two waiting requests marks only that card as sent", () => {
    const s = run(streaming(), approval(2, "r1"), approval(3, "r2"), { type: "answer", requestId: "r1", decision: "allow" });
    expect(reply(s).approvals.map((a) => [a.requestId, a.answering])).toEqual([
      ["r1", "allow"],
      ["r2", null],
    ]);
  });

  it("the first decision stays: a later answer, or this page answering after it, changes nothing", () => {
    let s = run(streaming(), approval(2, "r1"), answered(3, "r1", "deny"), answered(4, "r1", "allow"));
    s = run(s, { type: "answer", requestId: "r1", decision: "allow" });
    expect(reply(s).approvals[0]).toMatchObject({ decision: "deny", answering: null });
  });

  it("a turn stopped while one request waits closes that one as cancelled and keeps the answered one's decision", () => {
    const s = oneAnsweredOneWaiting(
      ev({ type: "error", threadId: T, turnId: "turn-1", seq: 5, messageId: "a1", code: "cancelled", message: "Stopped." }),
    );
    expect(reply(s).approvals.map((a) => [a.requestId, a.decision])).toEqual([
      ["r1", "allow"],
      ["r2", "cancelled"],
    ]);
  });

  it("the same request heard twice (a replay) shows one card", () => {
    const s = run(streaming(), approval(2, "r1"), approval(2, "r1"));
    expect(reply(s).approvals.map((a) => a.requestId)).toEqual(["r1"]);
  });
});

describe("turns heard in an unusual order", () => {
  const done = (turnId: string, seq: number, messageId: string): ChatAction =>
    ev({ type: "done", threadId: T, turnId, seq, messageId, sessionId: null, costUsd: null });

  it("a message of this page queued, then started later with its own id, is shown once as started", () => {
    const s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"), done("turn-1", 2, "a1"), started("turn-2", "u2", "a2", "l2"));
    expect(view(s)).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "complete"],
      ["u2", "user", "complete"],
      ["a2", "assistant", "streaming"],
    ]);
  });

  it("another tab's turn starting while this page's send is unanswered leaves the send waiting", () => {
    const s = run(opened(), send("l1", "mine"), started("turn-9", "u9", "a9"));
    expect(s.pending?.localId).toBe("l1");
    expect(s.messages.find((m) => m.id === "l1")).toMatchObject({ content: "mine", pending: true });
    expect(s.stale).toBe(true);
  });

  it("a send the store already shows when its turn starts is shown once", () => {
    let s = run(opened(), send("l1", "first"));
    s = run(s, history([stored({ id: "u1", role: "user", content: "first" })]), started("turn-1", "u1", "a1", "l1"));
    expect(view(s)).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "streaming"],
    ]);
    expect(s.pending).toBeNull();
  });

  it("this page's own send starting needs no new read of the store", () => {
    expect(streaming().stale).toBe(false);
  });

  it("a turn starting while the page still followed an earlier one reads the store and follows the new one from its start", () => {
    let s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"));
    s = run(s, started("turn-2", "u2", "a2"), token(1, "new", "turn-2"));
    expect(s.stale).toBe(true);
    expect(reply(s, "a2").content).toBe("new");
    expect(reply(s).content).toBe("Working");
  });

  it("a turn followed from its middle whose start is heard afterwards keeps one reply and its place in the stream", () => {
    let s = followedFromMiddle([stored({ id: "u1", role: "user", content: "hi" })], "abc");
    s = run(s, started("turn-5", "u5", "a5"), token(1, "abc", "turn-5"), token(2, "d", "turn-5"));
    expect(s.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      ["u1", "hi", "complete"],
      ["a5", "abcd", "streaming"],
    ]);
  });

  it("a turn followed from its middle, named by the store, then heard starting keeps its place in the stream", () => {
    let s = followedFromMiddle([stored({ id: "u1", role: "user", content: "hi" })], "abc");
    s = run(
      s,
      history([stored({ id: "u1", role: "user", content: "hi" }), stored({ id: "a5", role: "assistant", content: "ab", status: "streaming" })]),
      started("turn-5", "u5", "a5"),
      token(1, "abc", "turn-5"),
      token(2, "d", "turn-5"),
    );
    expect(reply(s, "a5").content).toBe("abcd");
  });

  it("after watching names a turn the page did not see start, its reply shows as being written and the store is read", () => {
    for (const before of [[], [stored({ id: "u1", role: "user", content: "hi" })]]) {
      const s = run(opened(before), ev(watching("turn-5")));
      expect(s.messages.map((m) => [m.role, m.content, m.status])).toEqual([
        ...before.map((m) => [m.role, m.content, m.status]),
        ["assistant", "", "streaming"],
      ]);
      expect(s.stale).toBe(true);
    }
  });

  it("watching that names another turn than the one followed follows the new turn in its own reply", () => {
    let s = run(streaming(), { type: "connection_lost" }, ev(watching("turn-2")), token(1, "new", "turn-2"));
    s = run(s, done("turn-2", 2, "a2"));
    expect(s.messages.map((m) => [m.id, m.content])).toEqual([
      ["u1", "first"],
      ["a1", "Working"],
      ["a2", "new"],
    ]);
  });

  it("a reply followed from its middle that ends in an error takes its message's id", () => {
    const s = followedFromMiddle(
      [stored({ id: "u1", role: "user", content: "hi" })],
      "abc",
      ev({ type: "error", threadId: T, turnId: "turn-5", seq: 2, messageId: "a5", code: "agent_error", message: "boom" }),
    );
    expect(s.messages.map((m) => [m.id, m.content, m.status])).toEqual([
      ["u1", "hi", "complete"],
      ["a5", "abc", "error"],
    ]);
  });

  it("a reply followed from its middle that ends in an error naming no message keeps its text", () => {
    const s = followedFromMiddle(
      [],
      "abc",
      ev({ type: "error", threadId: T, turnId: "turn-5", seq: 2, code: "agent_error", message: "boom" }),
    );
    // The list is keyed by message id: the reply keeps one.
    expect(s.messages.map((m) => [typeof m.id, m.content, m.status])).toEqual([["string", "abc", "error"]]);
  });

  it("two queued messages: removing one keeps the other", () => {
    const s = run(
      streaming(),
      send("l2", "second"),
      queued("u2", 1, "l2"),
      send("l3", "third"),
      queued("u3", 2, "l3"),
      ev({ type: "unqueued", threadId: T, messageId: "u2" }),
    );
    expect(queuedMessages(s).map((m) => m.id)).toEqual(["u3"]);
  });

  it("a queued message of this page is no longer shown as being sent", () => {
    const s = run(streaming(), send("l2", "second"), queued("u2", 1, "l2"));
    expect(s.messages.find((m) => m.id === "u2")?.pending).toBe(false);
  });

  it("a send the store already shows as queued when its queued answer arrives is shown once, and the next can be sent", () => {
    const s = run(
      streaming(),
      send("l2", "second"),
      history([
        stored({ id: "u1", role: "user", content: "first" }),
        stored({ id: "a1", role: "assistant", content: "Working", status: "streaming" }),
        stored({ id: "u2", role: "user", content: "second", status: "queued" }),
      ]),
      queued("u2", 1, "l2"),
    );
    expect(view(s)).toEqual([
      ["u1", "user", "complete"],
      ["a1", "assistant", "streaming"],
      ["u2", "user", "queued"],
    ]);
    expect(canSend(s)).toBe(true);
  });
});

describe("approval cards and the store", () => {
  it("history read after a request keeps the cards on the reply that asked, and gives none to the other messages", () => {
    const s = run(
      streaming(),
      approval(2, "r1"),
      history([stored({ id: "u1", role: "user", content: "first" }), stored({ id: "a1", role: "assistant", content: "Working", status: "streaming" })]),
    );
    expect(s.messages.map((m) => [m.id, m.approvals.map((a) => a.requestId)])).toEqual([
      ["u1", []],
      ["a1", ["r1"]],
    ]);
  });

  it("a refused answer gives its buttons back, also when the reply has an answered card", () => {
    const s = oneAnsweredOneWaiting(
      { type: "answer", requestId: "r2", decision: "deny" },
      ev({ type: "error", threadId: T, code: "invalid_message", message: "No." }),
    );
    expect(reply(s).approvals.map((a) => [a.requestId, a.decision, a.answering])).toEqual([
      ["r1", "allow", null],
      ["r2", null, null],
    ]);
  });
});
