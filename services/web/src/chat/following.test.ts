import { describe, expect, it } from "vitest";
import { chatReducer, initialChatState, type ChatState } from "./chatState";
import { ThreadFollower, type FollowPoint } from "./following";
import type { ClientRequest, StoredMessage } from "./protocol";

const T = "thread-1";

function socket(open = true) {
  const sent: ClientRequest[] = [];
  const state = { open };
  const follower = new ThreadFollower((request) => {
    if (!state.open) return false;
    sent.push(request);
    return true;
  });
  return { sent, state, follower };
}

const at = (over: Partial<FollowPoint> = {}): FollowPoint => ({
  epoch: 1,
  open: true,
  threadId: T,
  opening: 1,
  historyLoaded: true,
  ...over,
});

function withStreamingReply(): ChatState {
  const stored: StoredMessage[] = [
    { id: "a1", threadId: T, role: "assistant", content: "Hel", status: "streaming", createdAt: "2025-01-01T00:00:00Z" },
  ];
  return [
    { type: "open", threadId: T } as const,
    { type: "history", threadId: T, messages: stored } as const,
  ].reduce(chatReducer, initialChatState);
}

describe("following the open thread", () => {
  it("watches the thread once its stored messages are read, not before", () => {
    const { sent, follower } = socket();
    follower.sync(at({ historyLoaded: false }));
    expect(sent).toEqual([]);
    follower.sync(at());
    expect(sent).toEqual([{ type: "watch", threadId: T }]);
  });

  it("watches once per connection, and again after every reconnect", () => {
    const { sent, follower } = socket();
    follower.sync(at());
    follower.sync(at());
    follower.sync(at({ open: false }));
    follower.sync(at({ epoch: 2 }));
    expect(sent.map((r) => r.type)).toEqual(["watch", "watch"]);
  });

  it("watches again when the thread is opened again", () => {
    const { sent, follower } = socket();
    follower.sync(at());
    follower.sync(at({ threadId: "other", opening: 2 }));
    follower.sync(at({ opening: 3 }));
    expect(sent).toEqual([
      { type: "watch", threadId: T },
      { type: "watch", threadId: "other" },
      { type: "watch", threadId: T },
    ]);
  });

  it("a watch the socket could not send is sent at the next chance", () => {
    const { sent, state, follower } = socket(false);
    follower.sync(at());
    state.open = true;
    follower.sync(at());
    expect(sent).toEqual([{ type: "watch", threadId: T }]);
  });

  it("resumes the running turn that watching names, from where the page stands", () => {
    const { sent, follower } = socket();
    const watching = { type: "watching", threadId: T, turnId: "turn-1" } as const;
    const state = chatReducer(withStreamingReply(), { type: "event", event: watching });
    expect(follower.caughtUp(state, watching)).toBe(true);
    expect(sent).toEqual([{ type: "resume", threadId: T, afterSeq: 0 }]);
  });

  it("sends no resume when nothing runs", () => {
    const { sent, follower } = socket();
    const watching = { type: "watching", threadId: T, turnId: null } as const;
    const state = chatReducer(withStreamingReply(), { type: "event", event: watching });
    expect(follower.caughtUp(state, watching)).toBe(false);
    expect(sent).toEqual([]);
  });
});

describe("what is not sent", () => {
  it("no watch while the connection is not open or no thread is open", () => {
    const { sent, follower } = socket();
    follower.sync(at({ open: false }));
    follower.sync(at({ threadId: null }));
    expect(sent).toEqual([]);
  });

  it("no resume for another thread's watching, nor when it names no turn", () => {
    const { sent, follower } = socket();
    const state = withStreamingReply();
    expect(follower.caughtUp(state, { type: "watching", threadId: "other", turnId: "turn-1" })).toBe(false);
    expect(follower.caughtUp(state, { type: "watching", threadId: T, turnId: null })).toBe(false);
    expect(sent).toEqual([]);
  });
});
