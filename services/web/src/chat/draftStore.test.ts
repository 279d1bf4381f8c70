// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { loadDraft, saveDraft } from "./draftStore";

describe("drafts kept across reloads", () => {
  beforeEach(() => localStorage.clear());

  it("keeps each thread's unsent text apart and forgets an emptied one", () => {
    saveDraft("a", "half a thought");
    saveDraft("b", "another");
    expect(loadDraft("a")).toBe("half a thought");
    saveDraft("a", "  ");
    expect(loadDraft("a")).toBe("");
    expect(loadDraft("b")).toBe("another");
  });
});
