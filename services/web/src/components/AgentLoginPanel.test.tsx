// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api";
import type { AgentLoginState } from "../agentLoginApi";
import { AgentLoginPanel } from "./AgentLoginPanel";

afterEach(cleanup);

const NONE: AgentLoginState = {
  isSet: false,
  kind: null,
  updatedAt: null,
  status: "none",
  message: "Your agent is not logged in: store your Claude login below.",
};
const OWN: AgentLoginState = {
  isSet: true,
  kind: "oauth_token",
  updatedAt: "2026-12-06T02:00:00Z",
  status: "own",
  message: "Your agent uses your own Claude login.",
};

function client(initial: AgentLoginState) {
  return {
    get: vi.fn(async () => ({ agentLogin: initial })),
    set: vi.fn(async () => ({ agentLogin: OWN })),
    clear: vi.fn(async () => ({ agentLogin: NONE })),
  };
}

describe("AgentLoginPanel", () => {
  it("says whether your agent is logged in", async () => {
    render(<AgentLoginPanel client={client(NONE)} />);
    const status = await screen.findByTestId("agent-login-status");
    expect(status.textContent).toContain("not logged in");
    expect(status.dataset.status).toBe("none");
  });

  it("sends the credential once, then empties the field and never shows it", async () => {
    const api = client(NONE);
    render(<AgentLoginPanel client={api} />);
    const field = (await screen.findByTestId("agent-login-secret")) as HTMLInputElement;
    expect(field.type).toBe("password");
    fireEvent.change(field, { target: { value: "  sk-ant-oat01-secret  " } });
    fireEvent.click(screen.getByTestId("agent-login-save"));
    await waitFor(() => expect(screen.getByTestId("agent-login-status").dataset.status).toBe("own"));
    expect(api.set).toHaveBeenCalledWith("oauth_token", "sk-ant-oat01-secret");
    expect(field.value).toBe("");
    expect(document.body.textContent).not.toContain("sk-ant-oat01-secret");
  });

  it("stores an API key when that kind is chosen, and removes a stored login", async () => {
    const api = client(OWN);
    render(<AgentLoginPanel client={api} />);
    fireEvent.change(await screen.findByLabelText(/kind of login/i), { target: { value: "api_key" } });
    fireEvent.change(screen.getByTestId("agent-login-secret"), { target: { value: "sk-ant-api-1" } });
    fireEvent.click(screen.getByTestId("agent-login-save"));
    await waitFor(() => expect(api.set).toHaveBeenCalledWith("api_key", "sk-ant-api-1"));
    fireEvent.click(screen.getByTestId("agent-login-clear"));
    await waitFor(() => expect(screen.getByTestId("agent-login-status").dataset.status).toBe("none"));
  });

  it("shows the server's sentence when it refuses", async () => {
    const api = client(NONE);
    api.set.mockRejectedValueOnce(new ApiError(409, "This server cannot store agent logins: no SECRET_KEY."));
    render(<AgentLoginPanel client={api} />);
    fireEvent.change(await screen.findByTestId("agent-login-secret"), { target: { value: "x" } });
    fireEvent.click(screen.getByTestId("agent-login-save"));
    expect((await screen.findByTestId("agent-login-error")).textContent).toContain("SECRET_KEY");
  });

  it("offers no form when the stack has no accounts (the operator's own agent)", async () => {
    render(
      <AgentLoginPanel
        client={client({ ...NONE, status: "operator", message: "The agent uses the operator's login." })}
      />,
    );
    await screen.findByTestId("agent-login-status");
    expect(screen.queryByTestId("agent-login-form")).toBeNull();
  });
});
