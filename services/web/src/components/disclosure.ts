import { useState } from "react";

/**
 * A button that shows and hides something: its open state, and the props of the button
 * (aria-haspopup for the kind of popup it opens, aria-expanded, the toggle).
 */
export function useDisclosure(popup: "menu" | "listbox") {
  const [open, setOpen] = useState(false);
  const toggle = { "aria-haspopup": popup, "aria-expanded": open, onClick: () => setOpen((v) => !v) };
  return { open, setOpen, toggle };
}
