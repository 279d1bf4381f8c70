import { describe, expect, it } from "vitest";
import { acceptSeq, FRESH_CURSOR, resumeAfterSeq } from "./resume";

describe("resume offsets", () => {
  it("a fresh cursor resumes from zero and adopts the first turn it sees", () => {
    expect(resumeAfterSeq(FRESH_CURSOR)).toBe(0);
    const v = acceptSeq(FRESH_CURSOR, "t1", 1);
    expect(v.apply).toBe(true);
    expect(v.cursor).toEqual({ turnId: "t1", lastSeq: 1 });
  });

  it("resumes after the last applied seq", () => {
    let cursor = FRESH_CURSOR;
    for (const seq of [1, 2, 3]) cursor = acceptSeq(cursor, "t1", seq).cursor;
    expect(resumeAfterSeq(cursor)).toBe(3);
  });

  it("drops repeats and older events", () => {
    const cursor = { turnId: "t1", lastSeq: 5 };
    expect(acceptSeq(cursor, "t1", 5).apply).toBe(false);
    expect(acceptSeq(cursor, "t1", 2).apply).toBe(false);
    expect(acceptSeq(cursor, "t1", 6).apply).toBe(true);
  });

  it("ignores events of another turn", () => {
    const v = acceptSeq({ turnId: "t1", lastSeq: 2 }, "t0", 9);
    expect(v.apply).toBe(false);
    expect(v.cursor).toEqual({ turnId: "t1", lastSeq: 2 });
  });

  it("accepts a gap (events are applied in the order the gateway sends them)", () => {
    const v = acceptSeq({ turnId: "t1", lastSeq: 2 }, "t1", 4);
    expect(v.apply).toBe(true);
    expect(resumeAfterSeq(v.cursor)).toBe(4);
  });
});
