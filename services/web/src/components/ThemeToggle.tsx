import { useState } from "react";
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from "../theme";

const LABEL: Record<ThemeChoice, string> = {
  system: "Theme: as the system",
  light: "Theme: light",
  dark: "Theme: dark",
};
const ICON: Record<ThemeChoice, string> = { system: "◐", light: "☀", dark: "☾" };

/** Cycles system → light → dark. */
export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  return (
    <button
      type="button"
      data-testid="theme-toggle"
      data-theme-choice={choice}
      aria-label={`${LABEL[choice]} (change)`}
      title={LABEL[choice]}
      onClick={() => {
        const next = nextTheme(choice);
        applyTheme(next);
        setChoice(next);
      }}
      className="flex size-8 shrink-0 items-center justify-center rounded-lg text-neutral-400 hover:bg-neutral-800 hover:text-neutral-100"
    >
      <span aria-hidden="true">{ICON[choice]}</span>
    </button>
  );
}
