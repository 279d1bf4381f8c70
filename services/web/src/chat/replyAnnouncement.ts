// What a screen reader hears as replies end: one sentence per finished reply, never token by token.

import { useEffect, useRef, useState } from "react";
import type { ChatMessage } from "./chatMessage";

/** Long replies are cut: the whole text is in the conversation, this only says that it came. */
const MAX_SPOKEN = 500;

/** Markdown as it would be read out: no emphasis stars, backticks, fences, heading or list marks. */
export function spokenText(markdown: string): string {
  return markdown
    .replace(/^```.*$/gm, "")
    .replace(/^\s{0,3}(#{1,6}|[-*+]|\d+[.)]|>)\s+/gm, "")
    .replace(/(\*\*|__|\*|`)/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** The sentence for a reply that reached its end. */
export function replySentence(message: ChatMessage): string {
  // Its reason is said by the error marker itself (role="alert"), not twice.
  if (message.status === "error") return "The reply failed.";
  if (message.status === "cancelled") return "The reply was stopped.";
  if (message.status === "interrupted") return "The reply was interrupted.";
  const text = spokenText(message.content);
  return `The agent replied: ${text.length > MAX_SPOKEN ? `${text.slice(0, MAX_SPOKEN)}…` : text}`;
}

/**
 * The replies that ended since the last look: those seen streaming then and final now. A reply read
 * already finished (history, another thread) was never seen streaming, so it is not announced.
 */
export function repliesEnded(
  streamingBefore: ReadonlySet<string>,
  messages: readonly ChatMessage[],
): { ended: ChatMessage[]; streaming: Set<string> } {
  const replies = messages.filter((m) => m.role === "assistant");
  return {
    ended: replies.filter((m) => m.status !== "streaming" && streamingBefore.has(m.id)),
    streaming: new Set(replies.filter((m) => m.status === "streaming").map((m) => m.id)),
  };
}

/** The text of a polite live region: the latest finished reply's sentence. */
export function useReplyAnnouncement(messages: readonly ChatMessage[]): string {
  const [announcement, setAnnouncement] = useState("");
  const streaming = useRef<Set<string>>(new Set());
  useEffect(() => {
    const { ended, streaming: now } = repliesEnded(streaming.current, messages);
    streaming.current = now;
    if (ended.length > 0) setAnnouncement(ended.map(replySentence).join(" "));
  }, [messages]);
  return announcement;
}
