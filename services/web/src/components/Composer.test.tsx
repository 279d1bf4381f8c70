// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Composer } from "./Composer";

afterEach(cleanup);

function composer(over: Partial<Parameters<typeof Composer>[0]> = {}) {
  const props = {
    value: "and then the tests",
    onChange: vi.fn(),
    onSend: vi.fn(),
    onStop: vi.fn(),
    running: false,
    canSend: true,
    connected: true,
    threadId: "t1",
    ...over,
  };
  render(<Composer {...props} />);
  return props;
}

describe("Composer", () => {
  it("offers Send and no Stop when nothing runs", () => {
    composer();
    expect(screen.getByTestId("send-button")).toBeTruthy();
    expect(screen.queryByTestId("stop-button")).toBeNull();
  });

  it("stays usable while a reply is written: Stop and Send are both there", () => {
    const props = composer({ running: true });
    const input = screen.getByTestId("chat-input") as HTMLTextAreaElement;
    expect(input.disabled).toBe(false);
    fireEvent.keyDown(input, { key: "Enter" });
    expect(props.onSend).toHaveBeenCalledOnce();
    fireEvent.click(screen.getByTestId("stop-button"));
    expect(props.onStop).toHaveBeenCalledOnce();
    expect(props.onSend).toHaveBeenCalledOnce();
  });

  it("does not send while its previous send waits for an answer", () => {
    const props = composer({ canSend: false });
    fireEvent.keyDown(screen.getByTestId("chat-input"), { key: "Enter" });
    expect(props.onSend).not.toHaveBeenCalled();
    expect((screen.getByTestId("send-button") as HTMLButtonElement).disabled).toBe(true);
  });

  it("does not send when disconnected or empty", () => {
    composer({ connected: false });
    expect((screen.getByTestId("send-button") as HTMLButtonElement).disabled).toBe(true);
    cleanup();
    composer({ value: "   " });
    expect((screen.getByTestId("send-button") as HTMLButtonElement).disabled).toBe(true);
  });
});
