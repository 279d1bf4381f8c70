// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Me } from "../api";
import { UserMenu } from "./UserMenu";

afterEach(cleanup);

const alice: Me = { id: "u-1", username: "alice", isAdmin: false, authMode: "accounts" };

describe("UserMenu", () => {
  it("names the person and opens their agent login panel", () => {
    render(<UserMenu me={alice} onSignOut={() => {}} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    expect(screen.getByTestId("user-menu").textContent).toBe("alice");
    fireEvent.click(screen.getByRole("button", { name: "Agent login" }));
    expect(screen.getByRole("region", { name: "Agent login" })).toBe(screen.getByTestId("agent-login-panel"));
  });

  it("signs out when asked, and offers no sign-out where nobody signs in with a password", () => {
    const onSignOut = vi.fn();
    render(<UserMenu me={alice} onSignOut={onSignOut} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    fireEvent.click(screen.getByTestId("sign-out"));
    expect(onSignOut).toHaveBeenCalledOnce();
    cleanup();
    render(<UserMenu me={{ ...alice, username: ":local", authMode: "token" }} onSignOut={null} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    expect(screen.getByTestId("user-menu").textContent).toBe("You");
    expect(screen.queryByTestId("sign-out")).toBeNull();
  });
});
