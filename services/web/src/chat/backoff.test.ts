import { describe, expect, it } from "vitest";
import { backoffDelayMs, backoffSchedule } from "./backoff";

describe("reconnect backoff", () => {
  it("doubles from one second and stays at thirty", () => {
    expect(backoffSchedule(8).map((ms) => ms / 1000)).toEqual([1, 2, 4, 8, 16, 30, 30, 30]);
  });

  it("never exceeds thirty seconds, however many failures", () => {
    expect(backoffDelayMs(1_000)).toBe(30_000);
  });

  it("treats a negative count as the first retry", () => {
    expect(backoffDelayMs(-3)).toBe(1_000);
  });
});
