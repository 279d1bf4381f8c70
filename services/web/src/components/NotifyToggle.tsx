import { useState } from "react";
import { chooseNotify, notifyChosen, notifyPermission, type NotifyPermission } from "../chat/notifications";

/** The same name on and off (aria-pressed says which); the tooltip says what it does. */
const NOTIFY_ME = "Notify me when a reply ends or an approval waits while this tab is hidden";
const LABEL = {
  on: "Notifications on: a reply or an approval while this tab is hidden (click to turn off)",
  off: NOTIFY_ME,
  denied: "Notifications are blocked in this browser's site settings",
  unsupported: "This browser cannot show notifications",
};

/** Off by default; the first turning on asks the browser's permission. */
export function NotifyToggle() {
  const [permission, setPermission] = useState<NotifyPermission>(notifyPermission);
  const [chosen, setChosen] = useState(notifyChosen);
  const on = chosen && permission === "granted";
  const state = on ? "on" : permission === "denied" || permission === "unsupported" ? permission : "off";

  const toggle = async () => {
    if (on) {
      chooseNotify(false);
      setChosen(false);
      return;
    }
    if (permission === "unsupported") return;
    const answer = permission === "granted" ? permission : await Notification.requestPermission();
    setPermission(answer);
    chooseNotify(answer === "granted");
    setChosen(answer === "granted");
  };

  return (
    <button
      type="button"
      data-testid="notify-toggle"
      data-state={state}
      aria-pressed={on}
      aria-label={state === "on" ? NOTIFY_ME : LABEL[state]}
      title={LABEL[state]}
      onClick={() => void toggle()}
      className={
        "flex size-8 shrink-0 items-center justify-center rounded-lg hover:bg-neutral-800 " +
        (on ? "text-sky-300" : "text-neutral-400 hover:text-neutral-100")
      }
    >
      <svg viewBox="0 0 20 20" fill="currentColor" className="size-4" aria-hidden="true">
        <path d="M10 2a5 5 0 0 0-5 5v2.59l-1.2 2.4A1 1 0 0 0 4.7 13.5h10.6a1 1 0 0 0 .9-1.5L15 9.59V7a5 5 0 0 0-5-5Zm-2 13a2 2 0 0 0 4 0H8Z" />
        {state !== "on" && <path d="M3.22 2.22a.75.75 0 0 1 1.06 0l12.5 12.5a.75.75 0 1 1-1.06 1.06L3.22 3.28a.75.75 0 0 1 0-1.06Z" />}
      </svg>
    </button>
  );
}
