import { describe, expect, it } from "vitest";
import type { Thread } from "./chat/protocol";
import { flattenThreads, withoutThread, withThreadChanged, withThreadFirst, type ThreadPages } from "./threadList";

const thread = (id: string): Thread => ({ id, title: id, claudeSessionId: null, createdAt: "", updatedAt: "" });

const pages: ThreadPages = {
  pages: [
    { threads: [thread("c"), thread("b")], nextCursor: "x" },
    { threads: [thread("b"), thread("a")], nextCursor: null },
  ],
  pageParams: [null, "x"],
};

describe("the paged thread list", () => {
  it("shows each thread once, in order, even when one moved between pages", () => {
    expect(flattenThreads(pages).map((t) => t.id)).toEqual(["c", "b", "a"]);
  });

  it("puts a new or active thread first and nowhere else", () => {
    expect(flattenThreads(withThreadFirst(pages, thread("a"))).map((t) => t.id)).toEqual(["a", "c", "b"]);
    expect(flattenThreads(withThreadFirst(undefined, thread("n"))).map((t) => t.id)).toEqual(["n"]);
  });

  it("renames and removes in every page", () => {
    const renamed = withThreadChanged(pages, "b", (t) => ({ ...t, title: "B" }));
    expect(flattenThreads(renamed).find((t) => t.id === "b")?.title).toBe("B");
    expect(flattenThreads(withoutThread(pages, "b")).map((t) => t.id)).toEqual(["c", "a"]);
  });
});
