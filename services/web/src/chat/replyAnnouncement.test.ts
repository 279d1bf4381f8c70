import { describe, expect, it } from "vitest";
import { emptyAssistant, type ChatMessage } from "./chatMessage";
import { repliesEnded, replySentence } from "./replyAnnouncement";

function reply(over: Partial<ChatMessage>): ChatMessage {
  return { ...emptyAssistant("r1"), ...over };
}

describe("reply announcements", () => {
  it("announce a reply once, when it ends, not while its tokens arrive", () => {
    const first = repliesEnded(new Set(), [reply({ content: "Hel" })]);
    expect(first.ended).toEqual([]);
    const more = repliesEnded(first.streaming, [reply({ content: "Hello" })]);
    expect(more.ended).toEqual([]);
    const done = repliesEnded(more.streaming, [reply({ content: "Hello there", status: "complete" })]);
    expect(done.ended.map(replySentence)).toEqual(["The agent replied: Hello there"]);
    expect(repliesEnded(done.streaming, [reply({ content: "Hello there", status: "complete" })]).ended).toEqual([]);
  });

  it("do not announce replies that were already finished when read (history, a thread switch)", () => {
    const history = [reply({ id: "old", status: "complete", content: "from before" }), reply({ id: "u", role: "user" })];
    expect(repliesEnded(new Set(), history).ended).toEqual([]);
  });

  it("say a failed or stopped reply in words", () => {
    expect(replySentence(reply({ status: "error", error: "The agent is offline." }))).toBe("The reply failed.");
    expect(replySentence(reply({ status: "cancelled" }))).toBe("The reply was stopped.");
  });

  it("read the words, not the markdown marks", () => {
    const text = "# Plan\n\nHere is **bold** and `code`:\n\n- one\n- two\n\n```python\nprint('hi')\n```";
    expect(replySentence(reply({ status: "complete", content: text }))).toBe(
      "The agent replied: Plan Here is bold and code: one two print('hi')",
    );
  });

  it("cut a long reply short", () => {
    const spoken = replySentence(reply({ status: "complete", content: "word ".repeat(500) }));
    expect(spoken.length).toBeLessThan(600);
    expect(spoken.endsWith("…")).toBe(true);
  });
});
