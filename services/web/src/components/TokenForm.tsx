import { useState } from "react";
import { setToken } from "../api";
import { FormPage, formPageInput } from "./FormPage";
import { LabelledInput } from "./LabelledInput";

/** Asked once per browser session when the server runs with AUTH_TOKEN. */
export function TokenForm({ onDone, rejected }: { onDone: () => void; rejected: boolean }) {
  const [value, setValue] = useState("");
  return (
    <FormPage
      testid="token-form"
      title="sandchat"
      submitLabel="Continue"
      onSubmit={() => {
        if (!value.trim()) return;
        setToken(value.trim());
        onDone();
      }}
    >
      <p className="mt-1 text-sm text-neutral-400">This server needs its access token.</p>
      {rejected && <p className="mt-2 text-sm text-red-300">That token was not accepted.</p>}
      <LabelledInput
        data-testid="token-input"
        type="password"
        autoFocus
        autoComplete="current-password"
        label="Access token"
        value={value}
        onValue={setValue}
        className={`mt-4 ${formPageInput("focus:border-sky-400")}`}
      />
    </FormPage>
  );
}
