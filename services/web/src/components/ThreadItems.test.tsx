// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Thread } from "../chat/protocol";
import { nextIndex, ThreadItems } from "./ThreadItems";

afterEach(cleanup);
// jsdom lays nothing out.
beforeAll(() => {
  Element.prototype.scrollIntoView = () => {};
});

const thread = (id: string): Thread => ({
  id,
  title: `Thread ${id}`,
  claudeSessionId: null,
  createdAt: "2025-01-01T00:00:00Z",
  updatedAt: "2025-01-01T00:00:00Z",
});

function list(currentId: string | null, over: { hasMore?: boolean; onMore?: () => void } = {}) {
  render(
    <ThreadItems
      testid="threads"
      className=""
      threads={["a", "b", "c"].map(thread)}
      currentId={currentId}
      onSelect={() => {}}
      hasMore={over.hasMore ?? false}
      loadingMore={false}
      onMore={over.onMore ?? (() => {})}
    />,
  );
  return screen.getAllByRole("option");
}

const tabStops = (options: HTMLElement[]) => options.filter((o) => o.tabIndex === 0).map((o) => o.textContent);

describe("the thread list from the keyboard", () => {
  it("is one Tab stop: the open thread, or the first when the open one is not listed", () => {
    expect(tabStops(list("b"))).toEqual([expect.stringContaining("Thread b")]);
    cleanup();
    expect(tabStops(list("elsewhere"))).toEqual([expect.stringContaining("Thread a")]);
  });

  it("moves with the arrow keys, Home and End, and the Tab stop follows the focus", () => {
    const options = list("a");
    options[0].focus();
    fireEvent.keyDown(options[0], { key: "ArrowDown" });
    expect(document.activeElement).toBe(options[1]);
    fireEvent.keyDown(options[1], { key: "End" });
    expect(document.activeElement).toBe(options[2]);
    fireEvent.keyDown(options[2], { key: "ArrowDown" });
    expect(document.activeElement).toBe(options[2]);
    fireEvent.keyDown(options[2], { key: "Home" });
    expect(document.activeElement).toBe(options[0]);
    fireEvent.keyDown(options[0], { key: "ArrowUp" });
    expect(document.activeElement).toBe(options[0]);
    fireEvent.keyDown(options[0], { key: "End" });
    expect(tabStops(screen.getAllByRole("option"))).toEqual([expect.stringContaining("Thread c")]);
    expect(options[0].getAttribute("aria-selected")).toBe("true");
  });

  it("asks for the next page when the arrow reaches the last loaded thread", () => {
    const onMore = vi.fn();
    const options = list("a", { hasMore: true, onMore });
    options[0].focus();
    fireEvent.keyDown(options[0], { key: "ArrowDown" });
    expect(onMore).not.toHaveBeenCalled();
    fireEvent.keyDown(options[1], { key: "ArrowDown" });
    expect(onMore).toHaveBeenCalledTimes(1);
  });

  it("ignores other keys", () => {
    expect(nextIndex("a", 0, 3)).toBeNull();
    expect(nextIndex("ArrowDown", -1, 3)).toBe(0);
    expect(nextIndex("ArrowDown", 0, 0)).toBeNull();
  });
});
