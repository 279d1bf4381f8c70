import { describe, expect, it } from "vitest";
import { alwaysRules, diffLines, viewOf } from "./approvalView";

describe("what an approval card shows", () => {
  it("Bash: the command and its description", () => {
    expect(viewOf("Bash", { command: "npm test", description: "Run the tests" })).toEqual({
      kind: "command",
      command: "npm test",
      description: "Run the tests",
    });
  });

  it("Edit: the file and a line diff of the change", () => {
    const view = viewOf("Edit", { file_path: "/w/a.py", old_string: "a = 1\nb = 2\nc = 3", new_string: "a = 1\nb = 20\nc = 3" });
    expect(view).toEqual({
      kind: "diff",
      path: "/w/a.py",
      hunks: [
        [
          { kind: "same", text: "a = 1" },
          { kind: "removed", text: "b = 2" },
          { kind: "added", text: "b = 20" },
          { kind: "same", text: "c = 3" },
        ],
      ],
    });
  });

  it("Write: every line added", () => {
    expect(viewOf("Write", { file_path: "/w/new.txt", content: "one\ntwo" })).toEqual({
      kind: "diff",
      path: "/w/new.txt",
      hunks: [
        [
          { kind: "added", text: "one" },
          { kind: "added", text: "two" },
        ],
      ],
    });
  });

  it("MultiEdit: one hunk per edit", () => {
    const view = viewOf("MultiEdit", {
      file_path: "/w/a",
      edits: [
        { old_string: "x", new_string: "y" },
        { old_string: "p", new_string: "q" },
      ],
    });
    expect(view.kind === "diff" && view.hunks.length).toBe(2);
  });

  it("AskUserQuestion: its questions with their options", () => {
    const view = viewOf("AskUserQuestion", {
      questions: [
        {
          question: "Which database?",
          header: "DB",
          multiSelect: false,
          options: [{ label: "PostgreSQL", description: "Relational" }, { label: "SQLite" }],
        },
      ],
    });
    expect(view).toEqual({
      kind: "questions",
      questions: [
        {
          question: "Which database?",
          header: "DB",
          multiSelect: false,
          options: [
            { label: "PostgreSQL", description: "Relational" },
            { label: "SQLite", description: "" },
          ],
        },
      ],
    });
  });

  it("an input of an unexpected shape is shown as JSON, never trusted", () => {
    expect(viewOf("Edit", { file_path: 3, old_string: null })).toEqual({
      kind: "input",
      json: JSON.stringify({ file_path: 3, old_string: null }, null, 2),
    });
    expect(viewOf("WebFetch", "https://example.com").kind).toBe("input");
  });

  it("Allow always names the rules the CLI suggested", () => {
    const suggestions = [
      { type: "addRules", behavior: "allow", destination: "localSettings", rules: [{ toolName: "Bash", ruleContent: "npm test" }] },
      { type: "setMode", mode: "acceptEdits" },
      { type: "addRules", rules: [{ toolName: "Edit" }] },
    ];
    expect(alwaysRules(suggestions)).toEqual(["Bash(npm test)", "Edit"]);
  });

  it("a diff of large texts still shows every line", () => {
    const before = Array.from({ length: 500 }, (_, i) => `l${i}`).join("\n");
    const lines = diffLines(before, "new");
    expect(lines.filter((l) => l.kind === "removed")).toHaveLength(500);
    expect(lines.at(-1)).toEqual({ kind: "added", text: "new" });
  });
});
