import { useState } from "react";
import { api, ApiError } from "../api";

/** The sign-in page of AUTH_MODE=accounts: a user name and password; the server sets the session cookie. */
export function SignInForm({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="flex h-dvh items-center justify-center bg-neutral-950 p-6">
      <form
        data-testid="sign-in-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!username.trim() || !password || busy) return;
          setBusy(true);
          setError(null);
          api
            .signIn(username.trim(), password)
            .then(() => {
              setPassword("");
              onDone();
            })
            .catch((err: unknown) => setError(err instanceof ApiError ? err.detail : "Signing in failed."))
            .finally(() => setBusy(false));
        }}
        className="w-full max-w-sm rounded-2xl border border-neutral-800 bg-neutral-900 p-6"
      >
        <h1 className="text-lg font-semibold text-neutral-100">Sign in to sandchat</h1>
        {error && (
          <p data-testid="sign-in-error" role="alert" className="mt-2 text-sm text-red-300">
            {error}
          </p>
        )}
        <input
          data-testid="sign-in-username"
          autoFocus
          autoComplete="username"
          aria-label="User name"
          placeholder="User name"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          className="mt-4 w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100 focus:border-neutral-500 focus:outline-none"
        />
        <input
          data-testid="sign-in-password"
          type="password"
          autoComplete="current-password"
          aria-label="Password"
          placeholder="Password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          className="mt-2 w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100 focus:border-neutral-500 focus:outline-none"
        />
        <button
          type="submit"
          disabled={busy}
          className="mt-3 w-full rounded-lg bg-sky-700 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-60"
        >
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
