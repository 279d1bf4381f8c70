import type { ReactNode } from "react";

/** What every button of ours is given: its test id, what a click does, its classes. */
export interface ButtonBase {
  testid: string;
  onClick?: () => void;
  className: string;
}

/** A button named by `label` (for screen readers, and the tooltip unless `title` says more) whose content may be only an icon. */
export function LabelledButton(props: ButtonBase & { label: string; title?: string; children: ReactNode }) {
  return (
    <button
      type="button"
      data-testid={props.testid}
      aria-label={props.label}
      title={props.title ?? props.label}
      onClick={props.onClick}
      className={props.className}
    >
      {props.children}
    </button>
  );
}
