// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ApprovalItem } from "../chat/approvals";
import { emptyAssistant } from "../chat/chatMessage";
import type { ChatMessage } from "../chat/chatState";
import { MessageList } from "./MessageList";

afterEach(cleanup);
// jsdom lays nothing out and has no scrolling.
beforeAll(() => {
  Element.prototype.scrollTo = () => {};
});

function message(over: Partial<ChatMessage>): ChatMessage {
  return { ...emptyAssistant("m"), role: "user", status: "complete", createdAt: "2025-01-01T00:00:00Z", ...over };
}

const approval: ApprovalItem = {
  requestId: "r1",
  turnId: "t1",
  tool: "Bash",
  input: { command: "touch touched.txt" },
  suggestions: [],
  toolUseId: null,
  decision: null,
  answering: null,
  offset: 11,
};

const conversation = [
  message({ id: "u1", content: "make the file" }),
  message({ id: "a1", role: "assistant", status: "streaming", content: "I will run it. Then more.", approvals: [approval] }),
  message({ id: "u2", content: "then list it", status: "queued" }),
  message({ id: "u3", content: "and delete it", status: "queued" }),
];

function list(onAnswer = vi.fn(), onRemoveQueued = vi.fn()) {
  const props = { threadId: "t", messages: conversation, loading: false, empty: null, onAnswer, onRemoveQueued };
  render(<MessageList {...props} />);
  return { onAnswer, onRemoveQueued };
}

describe("MessageList", () => {
  it("shows an approval card inside the reply, where the agent asked", () => {
    list();
    const reply = screen.getAllByTestId("message").find((m) => m.dataset.messageId === "a1")!;
    const body = within(reply).getByTestId("message-body");
    expect(body.textContent).toMatch(/^I will run.*touch touched\.txt.*it\. Then more\.$/s);
    expect(within(reply).getByTestId("approval-card").dataset.decision).toBe("waiting");
  });

  it("answers a request with its id", () => {
    const { onAnswer } = list();
    fireEvent.click(screen.getByRole("button", { name: /allow once/i }));
    expect(onAnswer).toHaveBeenCalledWith("r1", { decision: "allow" });
  });

  it("shows queued messages in line, each removable", () => {
    const { onRemoveQueued } = list();
    const queued = screen.getAllByTestId("message").filter((m) => m.dataset.status === "queued");
    expect(queued.map((m) => within(m).getByTestId("queue-position").textContent)).toEqual([
      "Queued: starts next",
      "Queued: 2 in line",
    ]);
    fireEvent.click(within(queued[1]!).getByRole("button", { name: /remove/i }));
    expect(onRemoveQueued).toHaveBeenCalledWith("u3");
  });
});
