// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Sidebar } from "./Sidebar";

afterEach(cleanup);

function sidebar(open: boolean, onClose = vi.fn()) {
  render(
    <Sidebar
      threads={[]}
      currentId={null}
      onSelect={() => {}}
      onNew={() => {}}
      hasMore={false}
      loadingMore={false}
      onMore={() => {}}
      search={<input type="search" aria-label="Search threads and messages" />}
      open={open}
      onClose={onClose}
    />,
  );
  return onClose;
}

describe("the sidebar over a narrow page", () => {
  it("opens with the reader in its search box, and Escape, the ✕ or the backdrop close it", () => {
    const onClose = sidebar(true);
    expect(document.activeElement).toBe(screen.getByRole("searchbox", { name: "Search threads and messages" }));
    fireEvent.keyDown(document, { key: "Escape" });
    fireEvent.click(screen.getByRole("button", { name: "Close the thread list" }));
    fireEvent.click(screen.getByTestId("sidebar-backdrop"));
    expect(onClose).toHaveBeenCalledTimes(3);
  });

  it("is closed by default: no backdrop, no close button, Escape does nothing", () => {
    const onClose = sidebar(false);
    expect(screen.queryByTestId("sidebar-backdrop")).toBeNull();
    expect(screen.queryByRole("button", { name: "Close the thread list" })).toBeNull();
    fireEvent.keyDown(document, { key: "Escape" });
    expect(onClose).not.toHaveBeenCalled();
    expect(screen.getByTestId("sidebar").dataset.open).toBe("false");
  });
});
