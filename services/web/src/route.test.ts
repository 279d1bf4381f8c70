import { describe, expect, it } from "vitest";
import { threadIdFromPath } from "./route";

describe("thread in the URL", () => {
  it("reads /chat/<id>", () => {
    expect(threadIdFromPath("/chat/3f2a-11")).toBe("3f2a-11");
    expect(threadIdFromPath("/chat/3f2a-11/")).toBe("3f2a-11");
  });

  it("has none at / and /chat", () => {
    expect(threadIdFromPath("/")).toBeNull();
    expect(threadIdFromPath("/chat")).toBeNull();
    expect(threadIdFromPath("/chat/")).toBeNull();
  });

  it("ignores deeper or broken paths", () => {
    expect(threadIdFromPath("/chat/a/b")).toBeNull();
    expect(threadIdFromPath("/chat/%E0%A4%A")).toBeNull();
  });
});
