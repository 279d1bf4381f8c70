import { useState } from "react";
import { setToken } from "../api";

/** Asked once per browser session when the server runs with AUTH_TOKEN. */
export function TokenForm({ onDone, rejected }: { onDone: () => void; rejected: boolean }) {
  const [value, setValue] = useState("");
  return (
    <main className="flex h-dvh items-center justify-center bg-neutral-950 p-6">
      <form
        data-testid="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!value.trim()) return;
          setToken(value.trim());
          onDone();
        }}
        className="w-full max-w-sm rounded-2xl border border-neutral-800 bg-neutral-900 p-6"
      >
        <h1 className="text-lg font-semibold text-neutral-100">sandchat</h1>
        <p className="mt-1 text-sm text-neutral-400">This server needs its access token.</p>
        {rejected && <p className="mt-2 text-sm text-red-300">That token was not accepted.</p>}
        <input
          data-testid="token-input"
          type="password"
          autoFocus
          autoComplete="current-password"
          aria-label="Access token"
          placeholder="Access token"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          className="mt-4 w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100 focus:border-sky-400 focus:outline-none"
        />
        <button
          type="submit"
          className="mt-3 w-full rounded-lg bg-sky-700 py-2 text-sm font-medium text-white hover:bg-sky-800"
        >
          Continue
        </button>
      </form>
    </main>
  );
}
