import { useQuery } from "@tanstack/react-query";
import { api, type AgentHealth } from "../api";

// Workers report every 30 s; reading as often keeps the banner within a probe period of the truth.
const HEALTH_REFRESH_MS = 15_000;

const HEADLINE: Record<string, string> = {
  unauthenticated: "The agent is not logged in.",
  unavailable: "The agent is unavailable.",
  unknown: "The agent's state is unknown.",
};

/** The agent's state from /health, re-read every 15 s; null while unknown to the page or healthy. */
export function useAgentTrouble(): AgentHealth | null {
  const health = useQuery({
    queryKey: ["health"],
    queryFn: api.health,
    refetchInterval: HEALTH_REFRESH_MS,
    refetchIntervalInBackground: false,
    retry: false,
  });
  const agent = health.data;
  return agent && agent.status !== "healthy" ? agent : null;
}

/** The agent's trouble, shown before anyone sends a message into a dead end. */
export function AgentStateBanner({ agent }: { agent: AgentHealth }) {
  return (
    <div
      data-testid="agent-state"
      data-status={agent.status}
      role="status"
      className="flex items-start gap-3 rounded-xl border border-amber-900/60 bg-amber-950/30 px-4 py-3 text-sm text-amber-100"
    >
      <span className="mt-1 size-2 shrink-0 rounded-full bg-amber-400" />
      <div className="min-w-0 flex-1">
        <p className="font-medium">{HEADLINE[agent.status] ?? "The agent is not ready."} Messages sent now will not be answered.</p>
        <p className="mt-1 text-amber-100/90">{agent.message}</p>
      </div>
    </div>
  );
}
