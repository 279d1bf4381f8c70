// Your own agent login (`/me/agent-login`): set, clear, and whether it is set. Write-only: no answer
// ever carries the credential back.

import { request } from "./api";

export type AgentLoginKind = "oauth_token" | "api_key";

/**
 * `own`: your agent uses the login you stored; `shared`: the operator's login serves you (AGENT_SHARED_LOGIN);
 * `none`: your agent is not logged in; `unreadable`: stored, but the server's SECRET_KEY changed since;
 * `operator`: this stack has no accounts, and the agent uses the operator's own login.
 */
export type AgentLoginStatus = "own" | "shared" | "none" | "unreadable" | "operator";

export interface AgentLoginState {
  isSet: boolean;
  kind: AgentLoginKind | null;
  updatedAt: string | null;
  status: AgentLoginStatus;
  /** One sentence saying what the status means for your agent. */
  message: string;
}

const PATH = "/me/agent-login";

export const agentLoginApi = {
  get: () => request<{ agentLogin: AgentLoginState }>(PATH),
  set: (kind: AgentLoginKind, secret: string) =>
    request<{ agentLogin: AgentLoginState }>(PATH, { method: "PUT", body: JSON.stringify({ kind, secret }) }),
  clear: () => request<{ agentLogin: AgentLoginState }>(PATH, { method: "DELETE" }),
};

/** Whether your agent can take turns with this status. */
export function agentLoggedIn(status: AgentLoginStatus): boolean {
  return status === "own" || status === "shared" || status === "operator";
}
