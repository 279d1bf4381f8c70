import { describe, expect, it } from "vitest";
import { relativeTime } from "./relativeTime";

const now = Date.parse("2025-06-01T12:00:00Z");
const ago = (s: number) => new Date(now - s * 1000).toISOString();

describe("relative times", () => {
  it.each([
    [5, "just now"],
    [50, "1 minute ago"],
    [5 * 60, "5 minutes ago"],
    [2 * 3600, "2 hours ago"],
    [26 * 3600, "yesterday"],
    [3 * 86400, "3 days ago"],
    [15 * 86400, "2 weeks ago"],
    [400 * 86400, "last year"],
  ])("%i seconds ago reads %s", (seconds, text) => {
    expect(relativeTime(ago(seconds), now)).toBe(text);
  });

  it("is empty for a date it cannot read", () => {
    expect(relativeTime("not a date", now)).toBe("");
  });
});
