import type { PermissionMode } from "../chat/protocol";

/** Every mode (the compiler checks none is missing), least the agent may do without asking first. */
const MODE_TEXT: Record<PermissionMode, { order: number; label: string; hint: string }> = {
  plan: { order: 0, label: "Plan only", hint: "The agent reads and plans; it changes nothing." },
  default: { order: 1, label: "Ask first", hint: "The agent asks before it edits a file or runs a command." },
  acceptEdits: { order: 2, label: "Allow edits", hint: "The agent edits files freely and asks before it runs a command." },
  bypassPermissions: { order: 3, label: "Never ask", hint: "The agent does anything in its sandbox without asking." },
};

export const PERMISSION_MODES = (Object.keys(MODE_TEXT) as PermissionMode[])
  .map((mode) => ({ mode, ...MODE_TEXT[mode] }))
  .sort((a, b) => a.order - b.order);

interface Props {
  value: PermissionMode;
  onChange: (mode: PermissionMode) => void;
  disabled?: boolean;
}

/** How the agent asks before it acts in this thread; a change takes effect at the next message. */
export function PermissionModeSelect({ value, onChange, disabled = false }: Props) {
  const current = PERMISSION_MODES.find((m) => m.mode === value);
  return (
    <label className="flex items-center gap-2 text-xs text-neutral-400" title={current?.hint}>
      <span className="hidden @5xl:inline">Permissions</span>
      <select
        data-testid="permission-mode"
        aria-label="Permission mode"
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value as PermissionMode)}
        className="rounded-md border border-neutral-800 bg-neutral-900 px-1.5 py-1 text-xs text-neutral-200 disabled:opacity-50"
      >
        {PERMISSION_MODES.map((m) => (
          <option key={m.mode} value={m.mode} title={m.hint}>
            {m.label}
          </option>
        ))}
      </select>
    </label>
  );
}
