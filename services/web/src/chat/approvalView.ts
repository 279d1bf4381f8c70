// What an approval card shows, read from the tool input the CLI sent: the command for Bash, a diff
// for Edit / Write / MultiEdit, the questions for AskUserQuestion, the input as JSON for the rest.
// The input comes from the agent: every field is checked, nothing is trusted to have a shape.

import type { Resolution } from "./protocol";

export interface DiffLine {
  kind: "same" | "removed" | "added";
  text: string;
}

export interface QuestionOption {
  label: string;
  description: string;
}

export interface Question {
  question: string;
  header: string;
  options: QuestionOption[];
  multiSelect: boolean;
}

export type ApprovalView =
  | { kind: "command"; command: string; description: string | null }
  | { kind: "diff"; path: string; hunks: DiffLine[][] }
  | { kind: "questions"; questions: Question[] }
  | { kind: "input"; json: string };

type Fields = Record<string, unknown>;

const isFields = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Past this many lines a side, a diff is shown as removed-then-added instead of aligned. */
const MAX_ALIGNED_LINES = 400;

/** A line diff of two texts (longest common subsequence), in order. */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = before === "" ? [] : before.split("\n");
  const b = after === "" ? [] : after.split("\n");
  if (a.length > MAX_ALIGNED_LINES || b.length > MAX_ALIGNED_LINES) {
    return [...a.map((t) => ({ kind: "removed" as const, text: t })), ...b.map((t) => ({ kind: "added" as const, text: t }))];
  }
  // common[i][j] = length of the longest common subsequence of a[i:] and b[j:]
  const common = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ kind: "same", text: a[i] });
      i++;
      j++;
    } else if (i < a.length && (j === b.length || common[i + 1][j] >= common[i][j + 1])) {
      out.push({ kind: "removed", text: a[i] });
      i++;
    } else {
      out.push({ kind: "added", text: b[j] });
      j++;
    }
  }
  return out;
}

function questionsOf(input: Fields): Question[] | null {
  if (!Array.isArray(input.questions)) return null;
  const questions: Question[] = [];
  for (const q of input.questions) {
    if (!isFields(q) || text(q.question) === null) return null;
    const options = Array.isArray(q.options) ? q.options : [];
    questions.push({
      question: text(q.question)!,
      header: text(q.header) ?? "",
      multiSelect: q.multiSelect === true,
      options: options.flatMap((o) =>
        isFields(o) && text(o.label) !== null ? [{ label: text(o.label)!, description: text(o.description) ?? "" }] : [],
      ),
    });
  }
  return questions;
}

function editHunks(tool: string, input: Fields): DiffLine[][] | null {
  if (tool === "Write") {
    const content = text(input.content);
    return content === null ? null : [diffLines("", content)];
  }
  const edits = tool === "MultiEdit" ? input.edits : [input];
  if (!Array.isArray(edits)) return null;
  const hunks: DiffLine[][] = [];
  for (const edit of edits) {
    if (!isFields(edit)) return null;
    const before = text(edit.old_string);
    const after = text(edit.new_string);
    if (before === null || after === null) return null;
    hunks.push(diffLines(before, after));
  }
  return hunks;
}

export function viewOf(tool: string, input: unknown): ApprovalView {
  const fields = isFields(input) ? input : {};
  if (tool === "Bash" && text(fields.command) !== null) {
    return { kind: "command", command: text(fields.command)!, description: text(fields.description) };
  }
  if (tool === "Edit" || tool === "Write" || tool === "MultiEdit") {
    const path = text(fields.file_path);
    const hunks = editHunks(tool, fields);
    if (path !== null && hunks !== null) return { kind: "diff", path, hunks };
  }
  if (tool === "AskUserQuestion") {
    const questions = questionsOf(fields);
    if (questions !== null && questions.length > 0) return { kind: "questions", questions };
  }
  return { kind: "input", json: JSON.stringify(input, null, 2) ?? "null" };
}

/** The rules "Allow always" would add, as the CLI names them: `Bash(npm test)`, `Edit`. */
export function alwaysRules(suggestions: unknown[]): string[] {
  const rules: string[] = [];
  for (const s of suggestions) {
    if (!isFields(s) || s.type !== "addRules" || !Array.isArray(s.rules)) continue;
    for (const rule of s.rules) {
      if (!isFields(rule) || text(rule.toolName) === null) continue;
      const content = text(rule.ruleContent);
      rules.push(content ? `${rule.toolName}(${content})` : text(rule.toolName)!);
    }
  }
  return rules;
}

export const RESOLUTION_TEXT: Record<Resolution, string> = {
  allow: "Allowed once",
  allow_always: "Allowed always for this thread",
  deny: "Denied",
  interrupted: "Not answered: the worker running the agent stopped",
  cancelled: "Withdrawn: the reply was stopped",
  expired: "Expired: nobody answered in time, so the agent was told no",
};
