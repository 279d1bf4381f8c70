import type { InputHTMLAttributes } from "react";

type Props = Omit<InputHTMLAttributes<HTMLInputElement>, "aria-label" | "value" | "onChange"> & {
  /** What a screen reader names it, and the placeholder unless another one is given. */
  label: string;
  value: string;
  onValue: (value: string) => void;
};

/** A text input with no visible label of its own: named by `label`, edited as a string. */
export function LabelledInput({ label, value, onValue, placeholder, ...rest }: Props) {
  return (
    <input
      {...rest}
      aria-label={label}
      placeholder={placeholder ?? label}
      value={value}
      onChange={(e) => onValue(e.target.value)}
    />
  );
}
