import { useState, type ReactNode } from "react";
import type { Me } from "../api";
import { AgentLoginPanel } from "./AgentLoginPanel";
import { useDisclosure } from "./disclosure";
import { TokensPanel } from "./TokensPanel";

type Panel = "tokens" | "agent" | null;

const item = "block w-full rounded-md px-3 py-1.5 text-left text-sm text-neutral-200 hover:bg-neutral-800";

/** One of the menu's panels: its button, and below it the panel while it is the one open. */
function PanelToggle(props: { name: Panel; label: string; panel: Panel; setPanel: (p: Panel) => void; children: ReactNode }) {
  const open = props.panel === props.name;
  return (
    <>
      <button type="button" aria-expanded={open} className={item} onClick={() => props.setPanel(open ? null : props.name)}>
        {props.label}
      </button>
      {open && <div className="px-3 py-2">{props.children}</div>}
    </>
  );
}

/** Who is signed in, with their tokens, their agent's login, and signing out (accounts mode). */
export function UserMenu({ me, onSignOut }: { me: Me; onSignOut: (() => void) | null }) {
  const { open, toggle } = useDisclosure("menu");
  const [panel, setPanel] = useState<Panel>(null);
  return (
    <div className="relative">
      <button
        type="button"
        data-testid="user-menu"
        {...toggle}
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
          <PanelToggle name="tokens" label="API tokens" panel={panel} setPanel={setPanel}>
            <TokensPanel />
          </PanelToggle>
          <PanelToggle name="agent" label="Agent login" panel={panel} setPanel={setPanel}>
            <AgentLoginPanel username={me.username} />
          </PanelToggle>
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
