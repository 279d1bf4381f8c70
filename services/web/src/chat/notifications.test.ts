// @vitest-environment jsdom
import { renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApprovalItem } from "./approvals";
import { emptyAssistant, type ChatMessage } from "./chatMessage";
import {
  chooseNotify,
  newEvents,
  nothingSeen,
  notifyChosen,
  replyBody,
  shouldNotify,
  useNotifications,
} from "./notifications";

function reply(over: Partial<ChatMessage>): ChatMessage {
  return { ...emptyAssistant("r1"), ...over };
}

function asking(requestId: string, decision: ApprovalItem["decision"] = null): ApprovalItem {
  return {
    requestId,
    turnId: "t1",
    tool: "Bash",
    input: {},
    suggestions: [],
    toolUseId: null,
    decision,
    answering: null,
    offset: 0,
  };
}

describe("notification choice", () => {
  beforeEach(() => localStorage.clear());

  it("is off by default and remembered once chosen", () => {
    expect(notifyChosen()).toBe(false);
    chooseNotify(true);
    expect(notifyChosen()).toBe(true);
    chooseNotify(false);
    expect(notifyChosen()).toBe(false);
  });

  it("notifies only when on, granted, and the page is hidden", () => {
    expect(shouldNotify(true, "granted", "hidden")).toBe(true);
    expect(shouldNotify(true, "granted", "visible")).toBe(false);
    expect(shouldNotify(false, "granted", "hidden")).toBe(false);
    expect(shouldNotify(true, "denied", "hidden")).toBe(false);
    expect(shouldNotify(true, "default", "hidden")).toBe(false);
    expect(shouldNotify(true, "unsupported", "hidden")).toBe(false);
  });
});

describe("notification events", () => {
  it("come once when a reply seen streaming ends", () => {
    const first = newEvents(nothingSeen(), [reply({ content: "Hel" })]);
    expect(first.events).toEqual([]);
    const done = newEvents(first.seen, [reply({ content: "Hello **there**", status: "complete" })]);
    expect(done.events).toEqual([{ tag: "reply:r1", body: "Hello there" }]);
    expect(newEvents(done.seen, [reply({ content: "Hello there", status: "complete" })]).events).toEqual([]);
  });

  it("do not come for replies read already finished", () => {
    expect(newEvents(nothingSeen(), [reply({ status: "complete", content: "old" })]).events).toEqual([]);
  });

  it("say how a failed or stopped reply ended, and cut a long one to its first words", () => {
    expect(replyBody(reply({ status: "error" }))).toBe("The reply failed.");
    expect(replyBody(reply({ status: "cancelled" }))).toBe("The reply was stopped.");
    const long = replyBody(reply({ status: "complete", content: "word ".repeat(200) }));
    expect(long.split(" ")).toHaveLength(24);
    expect(long.endsWith("…")).toBe(true);
  });

  it("come once per approval request that waits, none for an answered one", () => {
    const first = newEvents(nothingSeen(), [reply({ approvals: [asking("a1"), asking("a0", "allow")] })]);
    expect(first.events).toEqual([{ tag: "approval:a1", body: "Waiting for your approval: Bash" }]);
    expect(newEvents(first.seen, [reply({ approvals: [asking("a1")] })]).events).toEqual([]);
  });
});

describe("useNotifications", () => {
  const shown: { title: string; options?: NotificationOptions }[] = [];
  let visibility: DocumentVisibilityState = "hidden";
  let permission: NotificationPermission = "granted";

  class FakeNotification {
    static get permission() {
      return permission;
    }
    onclick: (() => void) | null = null;
    constructor(title: string, options?: NotificationOptions) {
      shown.push({ title, options });
    }
    close() {}
  }

  beforeEach(() => {
    shown.length = 0;
    visibility = "hidden";
    permission = "granted";
    localStorage.clear();
    vi.stubGlobal("Notification", FakeNotification);
    vi.spyOn(document, "visibilityState", "get").mockImplementation(() => visibility);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  function run() {
    const open = vi.fn();
    const hook = renderHook(({ messages }) => useNotifications("th1", "My thread", messages, open), {
      initialProps: { messages: [reply({ content: "Hi" })] },
    });
    hook.rerender({ messages: [reply({ content: "Hi there", status: "complete" })] });
    return open;
  }

  it("shows one notification for a finished reply while hidden, titled by the thread", () => {
    chooseNotify(true);
    run();
    expect(shown).toEqual([{ title: "My thread", options: { body: "Hi there", tag: "reply:r1" } }]);
  });

  it("shows nothing by default, while visible, or when the browser denies", () => {
    run();
    chooseNotify(true);
    visibility = "visible";
    run();
    visibility = "hidden";
    permission = "denied";
    run();
    expect(shown).toEqual([]);
  });
});
