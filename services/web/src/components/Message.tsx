import { memo, type ReactNode } from "react";
import type { ApprovalAnswer } from "../chat/approvals";
import type { ChatMessage } from "../chat/chatState";
import { ApprovalCard } from "./ApprovalCard";
import { Markdown } from "./Markdown";
import { EditAction, RetryAction } from "./MessageActions";
import { ToolBlock } from "./ToolBlock";

/** Answer one approval request of a reply. */
export type AnswerApproval = (requestId: string, answer: ApprovalAnswer) => void;

function formatCost(usd: number): string {
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(3)}`;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

/** When a message was written, as the reader's clock shows it (on hover). */
function sentAt(message: ChatMessage): string | undefined {
  const when = new Date(message.createdAt);
  return Number.isNaN(when.getTime()) ? undefined : when.toLocaleString();
}

/**
 * The reply's text with each tool block and approval card placed where the tool ran or the agent
 * asked. At the same place, a request comes before the tool it asked for.
 */
function body(message: ChatMessage, onAnswer: AnswerApproval | undefined): ReactNode[] {
  const blocks = [
    ...message.approvals.map((approval) => ({
      offset: approval.offset,
      rank: 0,
      key: `approval:${approval.requestId}`,
      node: <ApprovalCard approval={approval} onAnswer={(answer) => onAnswer?.(approval.requestId, answer)} />,
    })),
    ...message.tools.map((tool, i) => ({
      offset: tool.offset,
      rank: 1,
      key: tool.toolUseId || `tool${i}`,
      node: <ToolBlock tool={tool} />,
    })),
  ].sort((a, b) => a.offset - b.offset || a.rank - b.rank);
  const parts: ReactNode[] = [];
  let at = 0;
  blocks.forEach((block, i) => {
    const cut = Math.min(Math.max(block.offset, at), message.content.length);
    const text = message.content.slice(at, cut);
    if (text.trim()) parts.push(<Markdown key={`t${i}`} text={text} />);
    parts.push(<div key={block.key}>{block.node}</div>);
    at = cut;
  });
  const rest = message.content.slice(at);
  if (rest.trim() || parts.length === 0) parts.push(<Markdown key="rest" text={rest} />);
  return parts;
}

const FINAL_LABEL: Record<string, string> = {
  error: "Error",
  cancelled: "Stopped",
  interrupted: "Interrupted",
};

function AssistantMessage({ message, onAnswer }: { message: ChatMessage; onAnswer?: AnswerApproval }) {
  const streaming = message.status === "streaming";
  const empty = message.content === "" && message.tools.length === 0 && message.approvals.length === 0;
  const meta = [
    message.costUsd !== null ? formatCost(message.costUsd) : null,
    message.durationMs !== null ? formatDuration(message.durationMs) : null,
  ].filter(Boolean);
  return (
    <div
      data-testid="message"
      data-role="assistant"
      data-status={message.status}
      data-message-id={message.id}
      role="article"
      aria-label="The agent said"
      title={sentAt(message)}
      className="group/msg"
    >
      {empty && !streaming ? null : streaming && empty ? (
        <div className="flex items-center gap-1.5 py-2" data-testid="thinking">
          <span className="sr-only">Thinking…</span>
          <span aria-hidden="true" className="size-1.5 animate-bounce rounded-full bg-neutral-500 [animation-delay:-0.3s]" />
          <span aria-hidden="true" className="size-1.5 animate-bounce rounded-full bg-neutral-500 [animation-delay:-0.15s]" />
          <span aria-hidden="true" className="size-1.5 animate-bounce rounded-full bg-neutral-500" />
        </div>
      ) : (
        <div data-testid="message-body" className="text-[15px] text-neutral-200">
          {body(message, onAnswer)}
        </div>
      )}
      {streaming && !empty && (
        <div className="mt-2 flex items-center gap-1" data-testid="streaming-indicator">
          <span className="sr-only">Still writing…</span>
          <span aria-hidden="true" className="size-1 animate-pulse rounded-full bg-sky-400" />
          <span aria-hidden="true" className="size-1 animate-pulse rounded-full bg-sky-400 [animation-delay:0.2s]" />
          <span aria-hidden="true" className="size-1 animate-pulse rounded-full bg-sky-400 [animation-delay:0.4s]" />
        </div>
      )}
      {message.statusLine && streaming && (
        <div className="mt-1 text-xs text-amber-300/80" data-testid="message-status-line">
          {message.statusLine}
        </div>
      )}
      {FINAL_LABEL[message.status] && (
        <div
          data-testid="message-error"
          role={message.status === "error" ? "alert" : undefined}
          className={
            (empty ? "" : "mt-2 ") +
            "flex items-start gap-2 rounded-lg border px-3 py-2 text-sm " +
            (message.status === "error"
              ? "border-red-900/70 bg-red-950/40 text-red-200"
              : "border-neutral-800 bg-neutral-900/60 text-neutral-400")
          }
        >
          <span className="font-medium">{FINAL_LABEL[message.status]}</span>
          {message.error && <span className="text-neutral-300">{message.error}</span>}
        </div>
      )}
      <RetryAction message={message} />
      {meta.length > 0 && message.status === "complete" && (
        <div
          data-testid="message-meta"
          className="mt-1.5 text-xs text-neutral-400"
        >
          {meta.join(" · ")}
        </div>
      )}
    </div>
  );
}

function UserMessage({ message }: { message: ChatMessage }) {
  return (
    <div
      data-testid="message"
      data-role="user"
      data-status={message.pending ? "pending" : message.status}
      data-message-id={message.id}
      role="article"
      aria-label="You said"
      title={sentAt(message)}
      className="flex justify-end"
    >
      <div
        className={
          "max-w-[88%] rounded-2xl rounded-br-md bg-neutral-800 px-4 py-2.5 text-[15px] leading-relaxed whitespace-pre-wrap text-neutral-100 @2xl:max-w-[75%] " +
          (message.pending ? "opacity-70" : "")
        }
        style={{ overflowWrap: "anywhere" }}
      >
        {message.content}
      </div>
    </div>
  );
}

export const Message = memo(function Message({ message, onAnswer }: { message: ChatMessage; onAnswer?: AnswerApproval }) {
  return message.role === "user" ? (
    <>
      <UserMessage message={message} />
      <EditAction message={message} />
    </>
  ) : <AssistantMessage message={message} onAnswer={onAnswer} />;
});
