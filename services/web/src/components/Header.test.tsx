// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Thread } from "../chat/protocol";
import { Header } from "./Header";

afterEach(cleanup);

const thread = (id: string, activity: Thread["activity"]): Thread => ({
  id,
  title: `thread ${id}`,
  claudeSessionId: null,
  createdAt: "2025-01-01T00:00:00Z",
  updatedAt: "2025-01-01T00:00:00Z",
  permissionMode: "default",
  activity,
});

function header(threads: Thread[], current: Thread) {
  render(
    <Header
      threads={threads}
      current={current}
      onSelect={() => {}}
      onNew={() => {}}
      onRename={() => {}}
      onDelete={() => {}}
      right={null}
    />,
  );
}

describe("Header", () => {
  it("marks a thread waiting for an approval in the list", () => {
    const threads = [thread("a", "idle"), thread("b", "waiting"), thread("c", "running")];
    header(threads, threads[0]!);
    fireEvent.click(screen.getByTestId("thread-dropdown-toggle"));
    const items = screen.getAllByTestId("thread-item");
    expect(items.map((i) => within(i).queryByTestId("thread-waiting")?.textContent ?? null)).toEqual([
      null,
      "Waiting for you",
      null,
    ]);
    expect(within(items[2]!).getByTestId("thread-running")).toBeTruthy();
  });

  it("shows beside the title that another thread waits", () => {
    const threads = [thread("a", "idle"), thread("b", "waiting")];
    header(threads, threads[0]!);
    expect(screen.getByTestId("other-thread-waiting")).toBeTruthy();
    cleanup();
    header(threads, threads[1]!);
    expect(screen.queryByTestId("other-thread-waiting")).toBeNull();
  });
});
