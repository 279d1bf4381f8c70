// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { notifyChosen } from "../chat/notifications";
import { NotifyToggle } from "./NotifyToggle";

let permission: NotificationPermission = "default";
let answer: NotificationPermission = "granted";
const asked = vi.fn();

class FakeNotification {
  static get permission() {
    return permission;
  }
  static requestPermission() {
    asked();
    permission = answer;
    return Promise.resolve(answer);
  }
}

beforeEach(() => {
  localStorage.clear();
  asked.mockClear();
  permission = "default";
  vi.stubGlobal("Notification", FakeNotification);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("the notify toggle", () => {
  it("is off by default and asks the browser when first turned on", async () => {
    answer = "granted";
    render(<NotifyToggle />);
    const toggle = screen.getByTestId("notify-toggle");
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    const name = toggle.getAttribute("aria-label");
    fireEvent.click(toggle);
    await waitFor(() => expect(toggle.getAttribute("aria-pressed")).toBe("true"));
    expect(toggle.getAttribute("aria-label")).toBe(name);
    expect(asked).toHaveBeenCalledTimes(1);
    expect(notifyChosen()).toBe(true);
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(notifyChosen()).toBe(false);
  });

  it("says so and stays off when the browser denies", async () => {
    answer = "denied";
    render(<NotifyToggle />);
    const toggle = screen.getByTestId("notify-toggle");
    fireEvent.click(toggle);
    await waitFor(() => expect(toggle.getAttribute("data-state")).toBe("denied"));
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(toggle.getAttribute("aria-label")).toMatch(/blocked/);
    expect(notifyChosen()).toBe(false);
  });
});
