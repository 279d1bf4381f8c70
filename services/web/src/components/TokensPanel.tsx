import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api";
import { LabelledInput } from "./LabelledInput";

const tokensKey = ["tokens"];

/** Personal API tokens: create (the token is shown once), list, revoke. */
export function TokensPanel() {
  const client = useQueryClient();
  const tokens = useQuery({ queryKey: tokensKey, queryFn: api.tokens });
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (tokenName: string) => api.createToken(tokenName),
    onSuccess: (created) => {
      setSecret(created.secret);
      setName("");
      void client.invalidateQueries({ queryKey: tokensKey });
    },
    onError: (e) => setError(e.message),
  });
  const revoke = useMutation({
    mutationFn: (tokenId: string) => api.revokeToken(tokenId),
    onSuccess: () => void client.invalidateQueries({ queryKey: tokensKey }),
    onError: (e) => setError(e.message),
  });
  return (
    <div data-testid="tokens-panel" className="space-y-3 text-sm">
      <p className="text-neutral-400">
        For the terminal client and scripts: <code>Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <form
        className="flex gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) create.mutate(name.trim());
        }}
      >
        <LabelledInput
          data-testid="token-name"
          label="New token's name"
          placeholder="Name, e.g. laptop"
          value={name}
          maxLength={100}
          onValue={setName}
          className="min-w-0 flex-1 rounded-lg border border-neutral-700 bg-neutral-950 px-2 py-1 text-neutral-100 focus:outline-none"
        />
        <button type="submit" className="rounded-lg bg-sky-700 px-3 py-1 font-medium text-white hover:bg-sky-800">
          Create
        </button>
      </form>
      {secret && (
        <div data-testid="token-secret" className="rounded-lg border border-amber-800/60 bg-amber-950/30 p-2">
          <p className="text-amber-100">Copy it now: it is not shown again.</p>
          <code className="mt-1 block break-all text-neutral-100">{secret}</code>
        </div>
      )}
      {error && (
        <p role="alert" className="text-red-300">
          {error}
        </p>
      )}
      <ul data-testid="token-list" className="space-y-1">
        {(tokens.data?.tokens ?? []).map((token) => (
          <li key={token.id} data-testid="token-row" className="flex items-center gap-2">
            <span className="min-w-0 flex-1 truncate text-neutral-200">
              {token.name} <span className="text-neutral-400">…{token.hint}</span>
            </span>
            <button
              type="button"
              onClick={() => revoke.mutate(token.id)}
              className="rounded-md border border-neutral-700 px-2 py-0.5 text-xs text-neutral-300 hover:bg-neutral-800"
            >
              Revoke
            </button>
          </li>
        ))}
        {tokens.data?.tokens.length === 0 && <li className="text-neutral-400">No tokens yet.</li>}
      </ul>
    </div>
  );
}
