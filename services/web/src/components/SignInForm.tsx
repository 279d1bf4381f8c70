import { useState } from "react";
import { api, ApiError } from "../api";
import { FormPage, formPageInput } from "./FormPage";
import { LabelledInput } from "./LabelledInput";

const input = formPageInput("focus:border-neutral-500");

/** The sign-in page of AUTH_MODE=accounts: a user name and password; the server sets the session cookie. */
export function SignInForm({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <FormPage
      testid="sign-in-form"
      title="Sign in to sandchat"
      submitLabel={busy ? "Signing in…" : "Sign in"}
      busy={busy}
      onSubmit={() => {
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
    >
      {error && (
        <p data-testid="sign-in-error" role="alert" className="mt-2 text-sm text-red-300">
          {error}
        </p>
      )}
      <LabelledInput
        data-testid="sign-in-username"
        autoFocus
        autoComplete="username"
        label="User name"
        value={username}
        onValue={setUsername}
        className={`mt-4 ${input}`}
      />
      <LabelledInput
        data-testid="sign-in-password"
        type="password"
        autoComplete="current-password"
        label="Password"
        value={password}
        onValue={setPassword}
        className={`mt-2 ${input}`}
      />
    </FormPage>
  );
}
