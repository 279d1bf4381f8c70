import { describe, expect, it } from "vitest";
import type { MessagePage } from "../api";
import { pushedOut } from "./olderMessages";
import type { StoredMessage } from "./protocol";

const message = (id: string, at: number): StoredMessage => ({
  id,
  threadId: "t",
  role: "user",
  content: id,
  status: "complete",
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, at)).toISOString(),
});
const page = (...messages: StoredMessage[]): MessagePage => ({ messages, olderCursor: "x", newerCursor: null });

describe("the newest page moving on", () => {
  it("hands over the messages newer ones pushed out, so no gap opens", () => {
    const a = message("a", 1);
    const b = message("b", 2);
    const c = message("c", 3);
    const d = message("d", 4);
    expect(pushedOut(page(a, b, c), page(c, d, message("e", 5))).map((m) => m.id)).toEqual(["a", "b"]);
  });

  it("hands over nothing on the first read or when the page kept everything", () => {
    const a = message("a", 1);
    expect(pushedOut(undefined, page(a))).toEqual([]);
    expect(pushedOut(page(a), page(a, message("b", 2)))).toEqual([]);
  });

  it("hands over only what is older than the new page's first message, by time and then by id", () => {
    const cases: [string, StoredMessage[], StoredMessage[], string[]][] = [
      ["gone from the store, newer than the page", [message("a", 1), message("b", 2), message("c", 3)], [message("a", 1), message("c", 3), message("d", 4)], []],
      ["pushed out at the same time, smaller id", [message("a", 2), message("b", 2)], [message("b", 2), message("c", 3)], ["a"]],
      ["gone at the same time, larger id", [message("b", 2), message("c", 2)], [message("b", 2), message("d", 3)], []],
      ["gone, later with a smaller id", [message("b", 2), message("a", 3)], [message("b", 2), message("c", 4)], []],
    ];
    for (const [what, previous, next, handed] of cases) {
      expect(pushedOut(page(...previous), page(...next)).map((m) => m.id), what).toEqual(handed);
    }
  });
});
