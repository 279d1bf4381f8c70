// Approval requests as the page keeps them: one card per request, in the reply where the agent asked.
// They are turn events, so a reload rebuilds them from the turn's replay (resume from seq 0).

import type { ApprovalAnsweredEvent, ApprovalEvent, Decision, Resolution } from "./protocol";

/** A person's answer to a request: a decision, a reason for a denial, AskUserQuestion's answers. */
export interface ApprovalAnswer {
  decision: Decision;
  message?: string;
  answers?: Record<string, string>;
}

export interface ApprovalItem {
  requestId: string;
  turnId: string;
  tool: string;
  input: unknown;
  /** The CLI's permission suggestions: the rules "Allow always" would add. */
  suggestions: unknown[];
  toolUseId: string | null;
  /** How the request ended (a person's decision, or why nobody's reached the agent); null while it waits. */
  decision: Resolution | null;
  /** This page sent this answer and waits to hear which answer won. */
  answering: Decision | null;
  /** Position in the reply's text where the agent asked. */
  offset: number;
}

export function approvalFrom(event: ApprovalEvent, offset: number): ApprovalItem {
  return {
    requestId: event.requestId,
    turnId: event.turnId,
    tool: event.tool,
    input: event.input,
    suggestions: Array.isArray(event.suggestions) ? event.suggestions : [],
    toolUseId: event.toolUseId ?? null,
    decision: null,
    answering: null,
    offset,
  };
}

/** Add a request once (a replay may repeat it). */
export function withApproval(items: ApprovalItem[], item: ApprovalItem): ApprovalItem[] {
  return items.some((a) => a.requestId === item.requestId) ? items : [...items, item];
}

/** The first answer wins; whoever sent it, every page shows that decision. */
export function withAnswer(items: ApprovalItem[], event: ApprovalAnsweredEvent): ApprovalItem[] {
  return items.map((a) =>
    a.requestId === event.requestId && a.decision === null ? { ...a, decision: event.decision, answering: null } : a,
  );
}

export function withAnswering(items: ApprovalItem[], requestId: string, decision: Decision | null): ApprovalItem[] {
  return items.map((a) => (a.requestId === requestId && a.decision === null ? { ...a, answering: decision } : a));
}

/** A request that ends with its turn (nobody answered) gets the turn's reason, when it has one. */
export function closedWith(items: ApprovalItem[], resolution: Resolution | null): ApprovalItem[] {
  if (resolution === null) return items;
  return items.map((a) => (a.decision === null ? { ...a, decision: resolution, answering: null } : a));
}
