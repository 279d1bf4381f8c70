import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { removeQueuedMessage, setPermissionMode } from "./threadApi";

afterEach(() => vi.unstubAllGlobals());

function answering(status: number, body: unknown) {
  const fetch = vi.fn(async (_path: string, _init: RequestInit) =>
    status === 204 ? new Response(null, { status }) : new Response(JSON.stringify(body), { status }),
  );
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

describe("live-session HTTP calls", () => {
  it("a permission mode is changed with PATCH /threads/{id}", async () => {
    const thread = { id: "t 1", title: "x", permissionMode: "default" };
    const fetch = answering(200, { thread });
    await expect(setPermissionMode("t 1", "default")).resolves.toEqual({ thread });
    const [path, init] = fetch.mock.calls[0];
    expect([path, init.method, init.body]).toEqual(["/threads/t%201", "PATCH", '{"permissionMode":"default"}']);
  });

  it("a queued message is removed with DELETE /threads/{id}/messages/{messageId}", async () => {
    const fetch = answering(204, null);
    await removeQueuedMessage("t1", "m1");
    expect([fetch.mock.calls[0][0], fetch.mock.calls[0][1].method]).toEqual(["/threads/t1/messages/m1", "DELETE"]);
  });

  it("a message that already started cannot be removed, and the server's sentence says so", async () => {
    answering(409, { detail: "This message has already started." });
    const refusal = await removeQueuedMessage("t1", "m1").catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ApiError);
    expect(refusal).toMatchObject({ status: 409, detail: "This message has already started." });
  });
});
