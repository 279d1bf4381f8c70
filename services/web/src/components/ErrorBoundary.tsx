import { Component, type ErrorInfo, type ReactNode } from "react";

interface State {
  error: Error | null;
}

/** Whatever breaks while rendering, the page shows a way forward instead of going blank. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error("sandchat: render failed", error, info.componentStack);
  }

  render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return (
      <main data-testid="error-boundary" className="flex h-dvh items-center justify-center bg-neutral-950 p-6">
        <div className="max-w-md rounded-2xl border border-neutral-800 bg-neutral-900 p-6 text-neutral-200">
          <h1 className="text-lg font-semibold">Something went wrong on this page</h1>
          <p className="mt-2 text-sm text-neutral-400">
            Your conversations are safe on the server. Reloading the page usually fixes this.
          </p>
          <pre className="mt-3 max-h-32 overflow-auto rounded bg-neutral-950 p-2 text-xs whitespace-pre-wrap text-red-300">
            {this.state.error.message}
          </pre>
          <div className="mt-4 flex gap-2">
            <button
              type="button"
              onClick={() => window.location.reload()}
              className="rounded-lg bg-sky-700 px-3 py-1.5 text-sm text-white hover:bg-sky-800"
            >
              Reload
            </button>
            <button
              type="button"
              onClick={() => this.setState({ error: null })}
              className="rounded-lg border border-neutral-700 px-3 py-1.5 text-sm text-neutral-300 hover:bg-neutral-800"
            >
              Try again
            </button>
          </div>
        </div>
      </main>
    );
  }
}
