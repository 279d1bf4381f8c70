// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PermissionModeSelect } from "./PermissionModeSelect";

afterEach(cleanup);

describe("PermissionModeSelect", () => {
  it("offers every mode, least the agent may do alone first, with the current one selected", () => {
    render(<PermissionModeSelect value="default" onChange={() => {}} />);
    const select = screen.getByLabelText(/permissions/i) as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["plan", "default", "acceptEdits", "bypassPermissions"]);
    expect(select.value).toBe("default");
  });

  it("choosing a mode reports it", () => {
    const onChange = vi.fn();
    render(<PermissionModeSelect value="bypassPermissions" onChange={onChange} />);
    fireEvent.change(screen.getByLabelText(/permissions/i), { target: { value: "acceptEdits" } });
    expect(onChange).toHaveBeenCalledWith("acceptEdits");
  });
});
