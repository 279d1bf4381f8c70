import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import {
  agentLoggedIn,
  agentLoginApi,
  type AgentLoginKind,
  type AgentLoginState,
} from "../agentLoginApi";
import { LabelledInput } from "./LabelledInput";

const KINDS: { value: AgentLoginKind; label: string; hint: string }[] = [
  {
    value: "oauth_token",
    label: "Claude login token",
    hint: "Run `claude setup-token` on your own machine and paste the token it prints.",
  },
  { value: "api_key", label: "Anthropic API key", hint: "An API key from your Anthropic Console account." },
];

type Api = typeof agentLoginApi;

/**
 * "Agent login" (in the user menu): whether your agent is logged in, and your own credential for it.
 * The credential is write-only: it is sent once, never shown again, and the field is emptied after saving.
 */
export function AgentLoginPanel({ username, client = agentLoginApi }: { username?: string; client?: Api }) {
  const [state, setState] = useState<AgentLoginState | null>(null);
  const [kind, setKind] = useState<AgentLoginKind>("oauth_token");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    client
      .get()
      .then(({ agentLogin }) => live && setState(agentLogin))
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e.detail : "The server cannot be reached."));
    return () => {
      live = false;
    };
  }, [client]);

  const run = async (call: () => Promise<{ agentLogin: AgentLoginState }>) => {
    setBusy(true);
    setError(null);
    try {
      setState((await call()).agentLogin);
      setSecret("");
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : "The server cannot be reached.");
    } finally {
      setBusy(false);
    }
  };

  const save = (e: FormEvent) => {
    e.preventDefault();
    const value = secret.trim();
    if (!value) return;
    void run(() => client.set(kind, value));
  };

  const chosen = KINDS.find((k) => k.value === kind) ?? KINDS[0];
  const operator = state?.status === "operator";
  return (
    <section aria-label="Agent login" data-testid="agent-login-panel" data-user={username} className="text-sm">
      <div>
        {state && (
          <p
            data-testid="agent-login-status"
            data-status={state.status}
            className={"mt-3 text-sm " + (agentLoggedIn(state.status) ? "text-emerald-300" : "text-amber-300")}
          >
            {state.message}
          </p>
        )}
        {error && (
          <p role="alert" data-testid="agent-login-error" className="mt-2 text-sm text-red-300">
            {error}
          </p>
        )}
        {state && !operator && (
          <form onSubmit={save} className="mt-4 space-y-3" data-testid="agent-login-form">
            <label className="block text-sm text-neutral-300">
              Kind
              <select
                aria-label="Kind of login"
                value={kind}
                onChange={(e) => setKind(e.target.value as AgentLoginKind)}
                className="mt-1 w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100"
              >
                {KINDS.map((k) => (
                  <option key={k.value} value={k.value}>
                    {k.label}
                  </option>
                ))}
              </select>
            </label>
            <p className="text-xs text-neutral-400">{chosen.hint}</p>
            <LabelledInput
              type="password"
              data-testid="agent-login-secret"
              label={chosen.label}
              placeholder={state.isSet ? "Paste a new one to replace yours" : undefined}
              autoComplete="off"
              spellCheck={false}
              value={secret}
              onValue={setSecret}
              className="w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100 focus:border-neutral-500 focus:outline-none"
            />
            <div className="flex gap-2">
              <button
                type="submit"
                data-testid="agent-login-save"
                disabled={busy || !secret.trim()}
                className="flex-1 rounded-lg bg-sky-700 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50"
              >
                {state.isSet ? "Replace" : "Save"}
              </button>
              {state.isSet && (
                <button
                  type="button"
                  data-testid="agent-login-clear"
                  disabled={busy}
                  onClick={() => void run(() => client.clear())}
                  className="rounded-lg border border-neutral-700 px-3 py-2 text-sm text-neutral-300 hover:text-red-300 disabled:opacity-50"
                >
                  Remove
                </button>
              )}
            </div>
          </form>
        )}
      </div>
    </section>
  );
}
