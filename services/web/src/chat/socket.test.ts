import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ServerEvent } from "./protocol";
import { ChatSocket, POLICY_VIOLATION, type ConnectionInfo } from "./socket";

// A stand-in for the browser's WebSocket (Node's test environment has no gateway to reach):
// the test opens, closes and feeds each connection as the gateway would.
class FakeWebSocket {
  static readonly OPEN = 1;
  static made: FakeWebSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((msg: { data: unknown }) => void) | null = null;
  onclose: ((close: { code: number; reason: string }) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.made.push(this);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  // What the gateway does to it:
  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }

  receive(data: unknown): void {
    this.onmessage?.({ data });
  }

  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const title: ServerEvent = { type: "title", threadId: "t1", title: "Hello" };

function socketUnderTest(url: () => Promise<string> = () => Promise.resolve("ws://gateway/ws")) {
  const infos: ConnectionInfo[] = [];
  const events: ServerEvent[] = [];
  const onDrop = vi.fn();
  const socket = new ChatSocket({ url, onEvent: (e) => events.push(e), onInfo: (i) => infos.push(i), onDrop });
  const last = () => infos[infos.length - 1];
  return { socket, infos, events, onDrop, last };
}

/** Lets the promise of the URL settle, so that connect() reaches `new WebSocket`. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

const latest = () => FakeWebSocket.made[FakeWebSocket.made.length - 1];

beforeEach(() => {
  FakeWebSocket.made = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.useFakeTimers();
  vi.setSystemTime(new Date("2025-01-01T00:00:00Z"));
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("ChatSocket", () => {
  it("says connecting, then open with a new epoch, and sends requests as JSON only while open", async () => {
    const { socket, infos, last } = socketUnderTest();
    expect(socket.send({ type: "cancel", threadId: "t1" })).toBe(false);
    socket.start();
    expect(last()).toMatchObject({ status: "connecting", failures: 0, retryAt: null, epoch: 0 });
    await settle();
    expect(latest().url).toBe("ws://gateway/ws");
    expect(socket.isOpen).toBe(false);
    expect(socket.send({ type: "cancel", threadId: "t1" })).toBe(false);
    latest().open();
    expect(last()).toMatchObject({ status: "open", failures: 0, retryAt: null, epoch: 1 });
    expect(socket.isOpen).toBe(true);
    expect(socket.send({ type: "cancel", threadId: "t1" })).toBe(true);
    expect(latest().sent.map((s) => JSON.parse(s))).toEqual([{ type: "cancel", threadId: "t1" }]);
    expect(infos.map((i) => i.status)).toEqual(["connecting", "open"]);
  });

  it("hands up the server events it knows and drops anything else", async () => {
    const { socket, events } = socketUnderTest();
    socket.start();
    await settle();
    latest().open();
    latest().receive(JSON.stringify(title));
    latest().receive("not json");
    for (const frame of ["null", '"token"', "[]", '{"type":5}', JSON.stringify({ type: "no_such_event" })]) latest().receive(frame);
    latest().receive(new ArrayBuffer(4));
    expect(events).toEqual([title]);
  });

  it("after a drop it says so, waits 1 s, then 2 s, and opens again with the next epoch", async () => {
    const { socket, onDrop, last } = socketUnderTest();
    socket.start();
    await settle();
    latest().open();
    latest().drop();
    expect(onDrop).toHaveBeenCalledTimes(1);
    expect(last()).toMatchObject({ status: "waiting", failures: 1, retryAt: Date.now() + 1000, refusal: null });
    expect(socket.isOpen).toBe(false);

    await vi.advanceTimersByTimeAsync(999);
    expect(FakeWebSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.made).toHaveLength(2);
    expect(last()).toMatchObject({ status: "connecting", retryAt: null });

    // This attempt never opens: no drop is reported, and the wait doubles.
    latest().drop();
    expect(onDrop).toHaveBeenCalledTimes(1);
    expect(last()).toMatchObject({ status: "waiting", failures: 2, retryAt: Date.now() + 2000 });
    await vi.advanceTimersByTimeAsync(2000);
    latest().open();
    expect(last()).toMatchObject({ status: "open", failures: 0, epoch: 2 });
  });

  it("a URL that cannot be had (no ticket) is retried after the backoff", async () => {
    let fail = true;
    const { socket, last } = socketUnderTest(() => (fail ? Promise.reject(new Error("401")) : Promise.resolve("ws://x")));
    socket.start();
    await settle();
    expect(FakeWebSocket.made).toHaveLength(0);
    expect(last()).toMatchObject({ status: "waiting", failures: 1 });
    fail = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.made).toHaveLength(1);
  });

  it("a URL the browser will not open (new WebSocket throws) is retried after the backoff", async () => {
    let bad = true;
    const { socket, last } = socketUnderTest(() => Promise.resolve(bad ? "not a url" : "ws://x"));
    vi.stubGlobal(
      "WebSocket",
      class extends FakeWebSocket {
        constructor(url: string) {
          if (url === "not a url") throw new SyntaxError("invalid URL");
          super(url);
        }
      },
    );
    socket.start();
    await settle();
    expect(last()).toMatchObject({ status: "waiting", failures: 1 });
    bad = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.made.map((ws) => ws.url)).toEqual(["ws://x"]);
  });

  it("a stop while the URL is fetched, then fails, schedules no retry", async () => {
    const { socket, last } = socketUnderTest(() => Promise.reject(new Error("401")));
    socket.start();
    socket.stop();
    await settle();
    expect(last().status).toBe("stopped");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(last().status).toBe("stopped");
  });

  it("a gateway that refuses the page: the reason is shown, the failures keep counting, no drop", async () => {
    const { socket, onDrop, last } = socketUnderTest();
    socket.start();
    await settle();
    latest().open();
    latest().drop(POLICY_VIOLATION, "origin not allowed");
    expect(onDrop).not.toHaveBeenCalled();
    expect(last()).toMatchObject({ status: "waiting", failures: 1, refusal: "origin not allowed" });

    await vi.advanceTimersByTimeAsync(1000);
    latest().open();
    latest().drop(POLICY_VIOLATION, "");
    expect(last()).toMatchObject({ status: "waiting", failures: 2, refusal: "The chat gateway refused this page." });
    expect(last().retryAt).toBe(Date.now() + 2000);

    // Once a connection works, a later drop is an ordinary one, not a refusal.
    await vi.advanceTimersByTimeAsync(2000);
    latest().open();
    expect(last()).toMatchObject({ status: "open", failures: 0 });
    latest().drop();
    expect(last().refusal).toBeNull();
  });

  it("stop closes the connection normally and never reconnects", async () => {
    const { socket, onDrop, last } = socketUnderTest();
    socket.start();
    await settle();
    const ws = latest();
    ws.open();
    socket.stop();
    expect(ws.closedWith).toBe(1000);
    expect(last()).toMatchObject({ status: "stopped", retryAt: null });
    ws.drop(1000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.made).toHaveLength(1);
    expect(onDrop).not.toHaveBeenCalled();
    expect(socket.send({ type: "cancel", threadId: "t1" })).toBe(false);
  });

  it("stop while waiting cancels the retry; stop before the URL came opens nothing", async () => {
    const first = socketUnderTest();
    first.socket.start();
    await settle();
    latest().drop();
    first.socket.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.made).toHaveLength(1);

    const second = socketUnderTest();
    second.socket.start();
    second.socket.stop();
    await settle();
    expect(FakeWebSocket.made).toHaveLength(1);
    expect(second.last().status).toBe("stopped");
  });

  it("retryNow skips the rest of the wait, and does nothing while open or stopped", async () => {
    const { socket } = socketUnderTest();
    socket.start();
    await settle();
    latest().open();
    socket.retryNow();
    await settle();
    expect(FakeWebSocket.made).toHaveLength(1);

    latest().drop();
    socket.retryNow();
    await settle();
    expect(FakeWebSocket.made).toHaveLength(2);
    // The skipped timer does not open a third connection later.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.made).toHaveLength(2);

    latest().drop();
    socket.stop();
    socket.retryNow();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.made).toHaveLength(2);
  });

  it("a replaced connection's late frames and close are ignored", async () => {
    const { socket, events, onDrop, last } = socketUnderTest();
    socket.start();
    await settle();
    const old = latest();
    old.open();
    old.drop();
    await vi.advanceTimersByTimeAsync(1000);
    latest().open();
    old.receive(JSON.stringify(title));
    old.onopen?.();
    old.drop();
    expect(events).toEqual([]);
    expect(onDrop).toHaveBeenCalledTimes(1);
    expect(last()).toMatchObject({ status: "open", epoch: 2 });
  });
});
