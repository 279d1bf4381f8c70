import type { Me } from "../api";

/**
 * The user menu's "Agent login" panel: where a person stores their own agent credential and sees
 * whether their agent is logged in. Empty for now: the per-person agent login fills it in.
 */
export function AgentLoginPanel({ me }: { me: Me }) {
  return (
    <div data-testid="agent-login-panel" data-user={me.username} className="text-sm text-neutral-400">
      Your agent uses the server's login.
    </div>
  );
}
