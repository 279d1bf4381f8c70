import type { ButtonBase } from "./LabelledButton";

/** The button at the end of a paged list that fetches the next page, disabled while it loads. */
export function LoadMoreButton(props: ButtonBase & { loading: boolean; label: string; loadingLabel: string }) {
  return (
    <button
      type="button"
      data-testid={props.testid}
      onClick={props.onClick}
      disabled={props.loading}
      className={props.className}
    >
      {props.loading ? props.loadingLabel : props.label}
    </button>
  );
}
