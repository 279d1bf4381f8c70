import { useEffect, useState } from "react";
import type { ConnectionInfo } from "../chat/socket";

export function ConnectionIndicator({ info, onRetry }: { info: ConnectionInfo; onRetry: () => void }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (info.status !== "waiting") return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [info.status]);

  let dot = "bg-emerald-500";
  let label = "Connected";
  if (info.status === "connecting") {
    dot = "bg-amber-400 animate-pulse";
    label = info.epoch === 0 ? "Connecting…" : "Reconnecting…";
  } else if (info.status === "waiting" || info.status === "stopped") {
    dot = "bg-red-500";
    const secs = info.retryAt ? Math.max(0, Math.ceil((info.retryAt - now) / 1000)) : 0;
    label = secs > 0 ? `Offline · retrying in ${secs}s` : "Offline";
  }
  const offline = info.status === "waiting";
  const refusal = offline ? info.refusal : null;
  if (refusal) label = refusal;
  return (
    <button
      type="button"
      data-testid="connection-indicator"
      data-state={refusal ? "refused" : info.status}
      onClick={offline ? onRetry : undefined}
      title={offline ? "Not connected to the chat gateway. Click to retry now." : label}
      aria-live="polite"
      className={
        "flex items-center gap-1.5 rounded-full px-2 py-1 text-xs " +
        (refusal ? "whitespace-normal text-left " : "whitespace-nowrap ") +
        (info.status === "open"
          ? "cursor-default text-neutral-400"
          : "border border-neutral-800 bg-neutral-900 text-neutral-300 " + (offline ? "hover:border-neutral-600" : ""))
      }
    >
      <span className={`size-2 rounded-full ${dot}`} />
      <span className={info.status === "open" ? "hidden @3xl:inline" : ""}>{label}</span>
    </button>
  );
}
