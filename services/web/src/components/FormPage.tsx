import type { ReactNode } from "react";

/** The classes of an input on a FormPage; `focus` is the border colour it takes with the focus. */
export function formPageInput(focus: string): string {
  return `w-full rounded-lg border border-neutral-700 bg-neutral-950 px-3 py-2 text-sm text-neutral-100 ${focus} focus:outline-none`;
}

/** A page that is one form in a card: the sign-in page, the access-token prompt. */
export function FormPage(props: {
  testid: string;
  title: string;
  onSubmit: () => void;
  submitLabel: string;
  busy?: boolean;
  children: ReactNode;
}) {
  return (
    <main className="flex h-dvh items-center justify-center bg-neutral-950 p-6">
      <form
        data-testid={props.testid}
        onSubmit={(e) => {
          e.preventDefault();
          props.onSubmit();
        }}
        className="w-full max-w-sm rounded-2xl border border-neutral-800 bg-neutral-900 p-6"
      >
        <h1 className="text-lg font-semibold text-neutral-100">{props.title}</h1>
        {props.children}
        <button
          type="submit"
          disabled={props.busy}
          className="mt-3 w-full rounded-lg bg-sky-700 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-60"
        >
          {props.submitLabel}
        </button>
      </form>
    </main>
  );
}
