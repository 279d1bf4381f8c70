// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { applyTheme, loadTheme, nextTheme } from "./theme";

describe("the theme choice", () => {
  beforeEach(() => {
    localStorage.clear();
    applyTheme("system");
  });

  it("follows the system until the reader picks, then remembers the pick", () => {
    expect(loadTheme()).toBe("system");
    applyTheme("light");
    expect(document.documentElement.dataset.theme).toBe("light");
    expect(loadTheme()).toBe("light");
    applyTheme("system");
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(loadTheme()).toBe("system");
  });

  it("cycles system, light, dark", () => {
    expect([nextTheme("system"), nextTheme("light"), nextTheme("dark")]).toEqual(["light", "dark", "system"]);
  });
});
