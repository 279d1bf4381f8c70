import { describe, expect, it } from "vitest";
import { pageTitle } from "./pageTitle";

describe("pageTitle", () => {
  it("names the open thread", () => {
    expect(pageTitle("Plan the roof", false)).toBe("Plan the roof · sandchat");
    expect(pageTitle(undefined, false)).toBe("sandchat");
  });

  it("starts with (Waiting for you) while an approval waits", () => {
    expect(pageTitle("Plan the roof", true)).toBe("(Waiting for you) Plan the roof · sandchat");
    expect(pageTitle("", true)).toBe("(Waiting for you) sandchat");
  });
});
