const LABELS: Record<string, string> = {
  simulator: "Demo: simulated agent",
  local: "Local agent",
  sandbox: "Sandboxed agent",
  "docker-sandbox": "Docker sandbox",
};

export function RunnerLabel({ runner }: { runner: string }) {
  const demo = runner === "simulator";
  return (
    <span
      data-testid="runner-label"
      data-runner={runner}
      title={`Agent runner: ${runner}`}
      className={
        "hidden rounded-full border px-2 py-0.5 text-[11px] whitespace-nowrap @2xl:inline " +
        (demo ? "border-violet-800/70 bg-violet-950/40 text-violet-300" : "border-neutral-800 text-neutral-400")
      }
    >
      {LABELS[runner] ?? runner}
    </span>
  );
}
