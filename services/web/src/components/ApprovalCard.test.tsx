// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ApprovalItem } from "../chat/approvals";
import { ApprovalCard } from "./ApprovalCard";

afterEach(cleanup);

function item(over: Partial<ApprovalItem> = {}): ApprovalItem {
  return {
    requestId: "r1",
    turnId: "t1",
    tool: "Bash",
    input: { command: "rm -rf build" },
    suggestions: [{ type: "addRules", rules: [{ toolName: "Bash", ruleContent: "rm -rf build" }] }],
    toolUseId: null,
    decision: null,
    answering: null,
    offset: 0,
    ...over,
  };
}

const button = (name: RegExp) => screen.getByRole("button", { name });

describe("ApprovalCard", () => {
  it("shows the Bash command to approve", () => {
    render(<ApprovalCard approval={item()} onAnswer={() => {}} />);
    expect(screen.getByTestId("approval-command").textContent).toBe("rm -rf build");
  });

  it("Allow once answers allow", () => {
    const onAnswer = vi.fn();
    render(<ApprovalCard approval={item()} onAnswer={onAnswer} />);
    fireEvent.click(button(/allow once/i));
    expect(onAnswer).toHaveBeenCalledWith({ decision: "allow" });
  });

  it("Allow always names the rule it adds and answers allow_always", () => {
    const onAnswer = vi.fn();
    render(<ApprovalCard approval={item()} onAnswer={onAnswer} />);
    fireEvent.click(button(/allow always for this thread: Bash\(rm -rf build\)/i));
    expect(onAnswer).toHaveBeenCalledWith({ decision: "allow_always" });
  });

  it("Deny sends the optional reason", () => {
    const onAnswer = vi.fn();
    render(<ApprovalCard approval={item()} onAnswer={onAnswer} />);
    fireEvent.change(screen.getByLabelText(/reason for denying/i), { target: { value: "  not on main  " } });
    fireEvent.click(button(/deny/i));
    expect(onAnswer).toHaveBeenCalledWith({ decision: "deny", message: "not on main" });
  });

  it("Edit shows a diff: the removed and the added lines", () => {
    render(
      <ApprovalCard
        approval={item({ tool: "Edit", input: { file_path: "/w/app.py", old_string: "x = 1", new_string: "x = 2" } })}
        onAnswer={() => {}}
      />,
    );
    const diff = screen.getByTestId("approval-diff");
    expect(diff.textContent).toContain("/w/app.py");
    expect([...diff.querySelectorAll("[data-diff]")].map((l) => [l.getAttribute("data-diff"), l.textContent])).toEqual([
      ["removed", "- x = 1"],
      ["added", "+ x = 2"],
    ]);
  });

  it("AskUserQuestion: options are buttons and the chosen ones are the answers", () => {
    const onAnswer = vi.fn();
    const input = {
      questions: [
        { question: "Which database?", header: "DB", options: [{ label: "PostgreSQL" }, { label: "SQLite" }] },
        { question: "Which port?", options: [{ label: "5432" }] },
      ],
    };
    render(<ApprovalCard approval={item({ tool: "AskUserQuestion", input })} onAnswer={onAnswer} />);
    expect(button(/^answer$/i)).toHaveProperty("disabled", true);
    fireEvent.click(button(/sqlite/i));
    fireEvent.change(screen.getByLabelText(/your own answer: which port/i), { target: { value: "6543" } });
    fireEvent.click(button(/^answer$/i));
    expect(onAnswer).toHaveBeenCalledWith({
      decision: "allow",
      answers: { "Which database?": "SQLite", "Which port?": "6543" },
    });
  });

  it("an answered request shows the decision and no buttons", () => {
    render(<ApprovalCard approval={item({ decision: "allow_always" })} onAnswer={() => {}} />);
    expect(screen.getByRole("status").textContent).toBe("Allowed always for this thread");
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("a request the worker never got an answer to says why", () => {
    render(<ApprovalCard approval={item({ decision: "interrupted" })} onAnswer={() => {}} />);
    expect(screen.getByRole("status").textContent).toMatch(/not answered: the worker running the agent stopped/i);
  });

  it("while this page's answer is on its way the buttons are off", () => {
    render(<ApprovalCard approval={item({ answering: "allow" })} onAnswer={() => {}} />);
    expect(button(/allow once/i)).toHaveProperty("disabled", true);
    expect(screen.getByText("Sending…")).toBeTruthy();
  });
});
