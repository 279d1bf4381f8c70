import type { ToolCall } from "../chat/protocol";

function show(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** A one-line summary of the input: the command, path or pattern when there is one. */
function summary(input: unknown): string {
  if (input && typeof input === "object") {
    const obj = input as Record<string, unknown>;
    for (const key of ["command", "file_path", "path", "pattern", "url", "query", "description"]) {
      if (typeof obj[key] === "string") return obj[key] as string;
    }
  }
  const text = show(input);
  return text === "{}" ? "" : text;
}

export function ToolBlock({ tool }: { tool: ToolCall }) {
  const running = tool.output === undefined;
  const state = running ? "running" : tool.isError ? "error" : "done";
  return (
    <details
      data-testid="tool-block"
      data-tool-state={state}
      className="group my-2 rounded-lg border border-neutral-800 bg-neutral-900/60 text-sm"
    >
      <summary className="flex cursor-pointer list-none items-center gap-2 px-3 py-1.5 text-neutral-400 select-none hover:text-neutral-200 [&::-webkit-details-marker]:hidden">
        <span className="text-[10px] transition-transform group-open:rotate-90">▶</span>
        <span
          className={
            "size-1.5 shrink-0 rounded-full " +
            (running ? "animate-pulse bg-amber-400" : tool.isError ? "bg-red-500" : "bg-emerald-500")
          }
        />
        <span className="font-mono font-medium text-neutral-200">{tool.name}</span>
        <span className="truncate font-mono text-xs text-neutral-400">{summary(tool.input)}</span>
      </summary>
      <div className="space-y-2 border-t border-neutral-800 px-3 py-2">
        <div>
          <div className="mb-1 text-[11px] tracking-wide text-neutral-400 uppercase">Input</div>
          <pre className="max-h-60 overflow-auto rounded bg-neutral-950 p-2 font-mono text-xs whitespace-pre-wrap text-neutral-300">
            {show(tool.input)}
          </pre>
        </div>
        <div>
          <div className="mb-1 text-[11px] tracking-wide text-neutral-400 uppercase">
            {tool.isError ? "Error" : "Output"}
          </div>
          <pre
            className={
              "max-h-60 overflow-auto rounded bg-neutral-950 p-2 font-mono text-xs whitespace-pre-wrap " +
              (tool.isError ? "text-red-300" : "text-neutral-300")
            }
          >
            {running ? "Running…" : tool.output || "(no output)"}
          </pre>
        </div>
      </div>
    </details>
  );
}
