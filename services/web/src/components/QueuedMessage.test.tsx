// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { emptyAssistant } from "../chat/chatMessage";
import type { ChatMessage } from "../chat/chatState";
import { QueuedMessage } from "./QueuedMessage";

afterEach(cleanup);

const message: ChatMessage = {
  ...emptyAssistant("u2"),
  role: "user",
  content: "and then run the tests",
  status: "queued",
  createdAt: "2025-01-01T00:00:00Z",
};

describe("QueuedMessage", () => {
  it("shows the text and that it starts next", () => {
    render(<QueuedMessage message={message} position={1} onRemove={() => {}} />);
    expect(screen.getByText("and then run the tests")).toBeTruthy();
    expect(screen.getByTestId("queue-position").textContent).toBe("Queued: starts next");
  });

  it("shows its place in line after the first", () => {
    render(<QueuedMessage message={message} position={3} onRemove={() => {}} />);
    expect(screen.getByTestId("queue-position").textContent).toBe("Queued: 3 in line");
  });

  it("can be removed", () => {
    const onRemove = vi.fn();
    render(<QueuedMessage message={message} position={1} onRemove={onRemove} />);
    fireEvent.click(screen.getByRole("button", { name: /remove this queued message/i }));
    expect(onRemove).toHaveBeenCalledOnce();
  });
});
