import { useState } from "react";
import type { ApprovalAnswer, ApprovalItem } from "../chat/approvals";
import { alwaysRules, RESOLUTION_TEXT, viewOf, type DiffLine, type Question } from "../chat/approvalView";
import { LabelledInput } from "./LabelledInput";

interface Props {
  approval: ApprovalItem;
  /** Answer the request; the decision shown is the one that wins (another tab may answer first). */
  onAnswer: (answer: ApprovalAnswer) => void;
}

const LINE_STYLE: Record<DiffLine["kind"], [string, string]> = {
  same: [" ", "text-neutral-400"],
  removed: ["-", "bg-red-950/50 text-red-200"],
  added: ["+", "bg-emerald-950/50 text-emerald-200"],
};

function Diff({ path, hunks }: { path: string; hunks: DiffLine[][] }) {
  return (
    <div data-testid="approval-diff">
      <div className="mb-1 font-mono text-xs text-neutral-300">{path}</div>
      {hunks.map((hunk, h) => (
        <pre key={h} className="mb-1 max-h-72 overflow-auto rounded bg-neutral-950 py-1 font-mono text-xs">
          {hunk.map((line, i) => {
            const [mark, style] = LINE_STYLE[line.kind];
            return (
              <div key={i} data-diff={line.kind} className={`px-2 whitespace-pre-wrap ${style}`}>
                {mark} {line.text}
              </div>
            );
          })}
        </pre>
      ))}
    </div>
  );
}

/** AskUserQuestion: each question's options as buttons, or a free answer; sent as `answers`. */
function Questions({ questions, disabled, onAnswer }: { questions: Question[]; disabled: boolean; onAnswer: Props["onAnswer"] }) {
  const [chosen, setChosen] = useState<Record<string, string[]>>({});
  const [free, setFree] = useState<Record<string, string>>({});
  const answerOf = (q: Question) => free[q.question]?.trim() || (chosen[q.question] ?? []).join(", ");
  const complete = questions.every((q) => answerOf(q) !== "");
  const pick = (q: Question, label: string) =>
    setChosen((c) => {
      const now = c[q.question] ?? [];
      if (!q.multiSelect) return { ...c, [q.question]: [label] };
      return { ...c, [q.question]: now.includes(label) ? now.filter((l) => l !== label) : [...now, label] };
    });
  return (
    <div className="space-y-3">
      {questions.map((q) => (
        <fieldset key={q.question} className="space-y-1.5">
          <legend className="text-sm text-neutral-100">
            {q.header && <span className="mr-2 text-xs text-neutral-400 uppercase">{q.header}</span>}
            {q.question}
          </legend>
          <div className="flex flex-wrap gap-1.5">
            {q.options.map((o) => {
              const on = (chosen[q.question] ?? []).includes(o.label);
              return (
                <button
                  key={o.label}
                  type="button"
                  disabled={disabled}
                  aria-pressed={on}
                  title={o.description || undefined}
                  onClick={() => pick(q, o.label)}
                  className={
                    "rounded-lg border px-2.5 py-1 text-sm disabled:opacity-50 " +
                    (on ? "border-sky-500 bg-sky-900/40 text-sky-100" : "border-neutral-700 text-neutral-200 hover:bg-neutral-800")
                  }
                >
                  {o.label}
                </button>
              );
            })}
          </div>
          <LabelledInput
            type="text"
            disabled={disabled}
            label={`Your own answer: ${q.question}`}
            placeholder="Or write your own answer"
            value={free[q.question] ?? ""}
            onValue={(v) => setFree((f) => ({ ...f, [q.question]: v }))}
            className="w-full rounded-md border border-neutral-800 bg-neutral-950 px-2 py-1 text-sm text-neutral-200 placeholder:text-neutral-400"
          />
        </fieldset>
      ))}
      <button
        type="button"
        disabled={disabled || !complete}
        onClick={() => onAnswer({ decision: "allow", answers: Object.fromEntries(questions.map((q) => [q.question, answerOf(q)])) })}
        className="rounded-lg bg-sky-700 px-3 py-1.5 text-sm text-white hover:bg-sky-800 disabled:bg-neutral-800 disabled:text-neutral-500"
      >
        Answer
      </button>
    </div>
  );
}

export function ApprovalCard({ approval, onAnswer }: Props) {
  const [reason, setReason] = useState("");
  const view = viewOf(approval.tool, approval.input);
  const rules = alwaysRules(approval.suggestions);
  const decided = approval.decision !== null;
  const disabled = decided || approval.answering !== null;
  const button = "rounded-lg border px-3 py-1.5 text-sm disabled:opacity-50";
  return (
    <section
      data-testid="approval-card"
      data-request-id={approval.requestId}
      data-decision={approval.decision ?? (approval.answering ? "sending" : "waiting")}
      aria-label={`The agent asks to use ${approval.tool}`}
      className="my-2 space-y-2 rounded-lg border border-amber-800/60 bg-amber-950/20 p-3 text-sm"
    >
      <div className="text-neutral-300">
        {view.kind === "questions" ? "The agent asks:" : <>The agent wants to use <span className="font-mono text-neutral-100">{approval.tool}</span></>}
      </div>
      {view.kind === "command" && (
        <div>
          {view.description && <div className="mb-1 text-xs text-neutral-400">{view.description}</div>}
          <pre data-testid="approval-command" className="overflow-auto rounded bg-neutral-950 p-2 font-mono text-xs whitespace-pre-wrap text-neutral-100">
            {view.command}
          </pre>
        </div>
      )}
      {view.kind === "diff" && <Diff path={view.path} hunks={view.hunks} />}
      {view.kind === "input" && (
        <pre className="max-h-60 overflow-auto rounded bg-neutral-950 p-2 font-mono text-xs whitespace-pre-wrap text-neutral-300">{view.json}</pre>
      )}
      {view.kind === "questions" && <Questions questions={view.questions} disabled={disabled} onAnswer={onAnswer} />}
      {decided ? (
        <div role="status" className="text-neutral-300">
          {RESOLUTION_TEXT[approval.decision!]}
        </div>
      ) : (
        <div className="flex flex-wrap items-center gap-2">
          {view.kind !== "questions" && (
            <>
              <button type="button" disabled={disabled} onClick={() => onAnswer({ decision: "allow" })} className={`${button} border-emerald-700 text-emerald-100 hover:bg-emerald-900/40`}>
                Allow once
              </button>
              <button
                type="button"
                disabled={disabled}
                title={rules.length ? `Adds ${rules.join(", ")} to this thread's allowed tools` : undefined}
                onClick={() => onAnswer({ decision: "allow_always" })}
                className={`${button} border-emerald-800 text-emerald-200 hover:bg-emerald-900/30`}
              >
                Allow always for this thread{rules.length ? `: ${rules.join(", ")}` : ""}
              </button>
            </>
          )}
          <LabelledInput
            type="text"
            disabled={disabled}
            label="Reason for denying (optional)"
            placeholder="Reason (optional)"
            value={reason}
            onValue={setReason}
            className="min-w-32 flex-1 rounded-md border border-neutral-800 bg-neutral-950 px-2 py-1 text-sm text-neutral-200 placeholder:text-neutral-400"
          />
          <button
            type="button"
            disabled={disabled}
            onClick={() => onAnswer(reason.trim() ? { decision: "deny", message: reason.trim() } : { decision: "deny" })}
            className={`${button} border-red-800 text-red-200 hover:bg-red-950/50`}
          >
            Deny
          </button>
          {approval.answering && <span className="text-xs text-neutral-400">Sending…</span>}
        </div>
      )}
    </section>
  );
}
