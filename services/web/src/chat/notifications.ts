// Browser notifications while the tab is hidden: a reply of the open thread ends, or its agent waits for
// an approval. Off until the reader turns them on (the browser asks its permission then); the choice is
// kept in this browser.

import { useEffect, useRef } from "react";
import type { ChatMessage } from "./chatMessage";
import { repliesEnded, spokenText } from "./replyAnnouncement";

const KEY = "sandchat.notify";
/** A notification shows the reply's first words; the whole reply is in the thread. */
const BODY_WORDS = 24;

export type NotifyPermission = NotificationPermission | "unsupported";

/** Whether the reader turned notifications on in this browser (off by default). */
export function notifyChosen(): boolean {
  try {
    return localStorage.getItem(KEY) === "on";
  } catch {
    return false;
  }
}

export function chooseNotify(on: boolean): void {
  try {
    if (on) localStorage.setItem(KEY, "on");
    else localStorage.removeItem(KEY);
  } catch {
    // Storage disabled: the choice lasts as long as the page.
  }
}

export function notifyPermission(): NotifyPermission {
  return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
}

/** Only when turned on, allowed by the browser, and the page is not in view. */
export function shouldNotify(on: boolean, permission: NotifyPermission, visibility: DocumentVisibilityState): boolean {
  return on && permission === "granted" && visibility === "hidden";
}

/** The body for a reply that ended: its first words, or how it ended. */
export function replyBody(message: ChatMessage): string {
  if (message.status === "error") return "The reply failed.";
  if (message.status === "cancelled") return "The reply was stopped.";
  if (message.status === "interrupted") return "The reply was interrupted.";
  const words = spokenText(message.content).split(" ").filter(Boolean);
  if (words.length === 0) return "The agent replied.";
  const first = words.slice(0, BODY_WORDS).join(" ");
  return words.length > BODY_WORDS ? `${first}…` : first;
}

export interface NotifyEvent {
  /** One per event: the reply's or the request's id (also the notification's tag). */
  tag: string;
  body: string;
}

/** What this page has already seen: replies streaming, approval requests that asked. */
export interface Seen {
  streaming: Set<string>;
  asked: Set<string>;
}

export function nothingSeen(): Seen {
  return { streaming: new Set(), asked: new Set() };
}

/** The events since the last look: replies seen streaming that ended, requests not seen before. */
export function newEvents(seen: Seen, messages: readonly ChatMessage[]): { events: NotifyEvent[]; seen: Seen } {
  const { ended, streaming } = repliesEnded(seen.streaming, messages);
  const events: NotifyEvent[] = ended.map((m) => ({ tag: `reply:${m.id}`, body: replyBody(m) }));
  const asked = new Set(seen.asked);
  for (const m of messages) {
    for (const a of m.approvals) {
      if (a.decision !== null || asked.has(a.requestId)) continue;
      asked.add(a.requestId);
      events.push({ tag: `approval:${a.requestId}`, body: `Waiting for your approval: ${a.tool}` });
    }
  }
  return { events, seen: { streaming, asked } };
}

function show(title: string, event: NotifyEvent, onClick: () => void): void {
  try {
    const note = new Notification(title, { body: event.body, tag: event.tag });
    note.onclick = () => {
      window.focus();
      onClick();
      note.close();
    };
  } catch {
    // Some browsers (Android's) show notifications only from a service worker: nothing is shown.
  }
}

/** Show one notification per event of the open thread while the page is hidden; a click opens it. */
export function useNotifications(
  threadId: string | null,
  title: string | undefined,
  messages: readonly ChatMessage[],
  open: (threadId: string) => void,
): void {
  const seen = useRef<Seen>(nothingSeen());
  const latest = useRef({ threadId, title, open });
  latest.current = { threadId, title, open };
  useEffect(() => {
    const found = newEvents(seen.current, messages);
    seen.current = found.seen;
    const { threadId: thread, title: name, open: openThread } = latest.current;
    if (!thread || !shouldNotify(notifyChosen(), notifyPermission(), document.visibilityState)) return;
    for (const event of found.events) show(name || "sandchat", event, () => openThread(thread));
  }, [messages]);
}
