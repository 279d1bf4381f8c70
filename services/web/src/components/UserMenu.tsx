import { useState } from "react";
import type { Me } from "../api";
import { AgentLoginPanel } from "./AgentLoginPanel";
import { TokensPanel } from "./TokensPanel";

type Panel = "tokens" | "agent" | null;

/** Who is signed in, with their tokens, their agent's login, and signing out (accounts mode). */
export function UserMenu({ me, onSignOut }: { me: Me; onSignOut: (() => void) | null }) {
  const [open, setOpen] = useState(false);
  const [panel, setPanel] = useState<Panel>(null);
  const item = "block w-full rounded-md px-3 py-1.5 text-left text-sm text-neutral-200 hover:bg-neutral-800";
  return (
    <div className="relative">
      <button
        type="button"
        data-testid="user-menu"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen((v) => !v)}
        className="max-w-[10rem] truncate rounded-lg border border-neutral-800 px-2 py-1 text-xs text-neutral-300 hover:bg-neutral-900"
      >
        {/* The implicit person of token mode has no name of their own (":local"). */}
        {me.username.startsWith(":") ? "You" : me.username}
      </button>
      {open && (
        <div
          role="group"
          aria-label="Your account"
          data-testid="user-menu-items"
          className="absolute right-0 z-30 mt-1 w-80 rounded-xl border border-neutral-800 bg-neutral-900 p-2 shadow-xl"
        >
          <button
            type="button"
            aria-expanded={panel === "tokens"}
            className={item}
            onClick={() => setPanel(panel === "tokens" ? null : "tokens")}
          >
            API tokens
          </button>
          {panel === "tokens" && (
            <div className="px-3 py-2">
              <TokensPanel />
            </div>
          )}
          <button
            type="button"
            aria-expanded={panel === "agent"}
            className={item}
            onClick={() => setPanel(panel === "agent" ? null : "agent")}
          >
            Agent login
          </button>
          {panel === "agent" && (
            <div className="px-3 py-2">
              <AgentLoginPanel username={me.username} />
            </div>
          )}
          {onSignOut && (
            <button type="button" data-testid="sign-out" className={item} onClick={onSignOut}>
              Sign out
            </button>
          )}
        </div>
      )}
    </div>
  );
}
