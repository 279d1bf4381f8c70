// The HTTP API (DESIGN §6 plus /config and /ws-ticket), with the bearer token when one is needed.

import type { StoredMessage, Thread } from "./chat/protocol";

/** `GET /threads`: one page, most recent first; `nextCursor` continues it. */
export interface ThreadPage {
  threads: Thread[];
  nextCursor: string | null;
}

/** `GET /threads/{id}/messages`: one page, oldest first, with a cursor each way (null at that end). */
export interface MessagePage {
  messages: StoredMessage[];
  olderCursor: string | null;
  newerCursor: string | null;
}

export interface MessagePageQuery {
  limit?: number;
  before?: string;
  after?: string;
  around?: string;
}

/** `GET /search`: one page of matches, best first; `hit` parts of a snippet are the matching words. */
export interface SearchResult {
  threadId: string;
  threadTitle: string;
  /** null when the thread's title matched. */
  messageId: string | null;
  role: string | null;
  createdAt: string;
  snippet: { text: string; hit: boolean }[];
}

export interface SearchPage {
  results: SearchResult[];
  nextCursor: string | null;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
}

export type Runner = "simulator" | "local" | "sandbox" | "docker-sandbox";

export type AuthMode = "none" | "token" | "accounts" | "proxy";

export interface AppConfig {
  gatewayUrl: string;
  runner: Runner | string;
  authRequired: boolean;
  /** Absent from servers older than accounts: then token when authRequired, else none. */
  authMode?: AuthMode;
}

export interface Me {
  id: string;
  username: string;
  isAdmin: boolean;
  authMode: AuthMode;
}

export interface PersonalToken {
  id: string;
  name: string;
  /** The token's last four characters. */
  hint: string;
  createdAt: string;
}

export function authModeOf(config: AppConfig): AuthMode {
  return config.authMode ?? (config.authRequired ? "token" : "none");
}

const TOKEN_KEY = "sandchat.token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

type AuthListener = () => void;
const authListeners = new Set<AuthListener>();

/** Called when the API refuses the token, so the page can ask for it again. */
export function onAuthRequired(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives only as long as this call chain; nothing else to do.
  }
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Accept", "application/json");
  if (init.body !== undefined) headers.set("Content-Type", "application/json");
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiError(0, "The server cannot be reached.");
  }
  if (response.status === 401) {
    setToken(null);
    for (const listener of authListeners) listener();
  }
  if (!response.ok) {
    let detail = `The server answered ${response.status}.`;
    try {
      const body = (await response.json()) as { detail?: unknown };
      if (typeof body.detail === "string") detail = body.detail;
    } catch {
      // Not JSON: keep the generic sentence.
    }
    throw new ApiError(response.status, detail);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  config: () => request<AppConfig>("/config"),
  threads: (cursor?: string | null) => request<ThreadPage>(`/threads${query({ cursor: cursor ?? undefined })}`),
  thread: (threadId: string) => request<{ thread: Thread }>(`/threads/${encodeURIComponent(threadId)}`),
  createThread: (title?: string) =>
    request<{ thread: Thread }>("/threads", { method: "POST", body: JSON.stringify(title ? { title } : {}) }),
  messages: (threadId: string, page: MessagePageQuery = {}) =>
    request<MessagePage>(`/threads/${encodeURIComponent(threadId)}/messages${query({ ...page })}`),
  renameThread: (threadId: string, title: string) =>
    request<unknown>(`/threads/${encodeURIComponent(threadId)}`, { method: "PATCH", body: JSON.stringify({ title }) }),
  deleteThread: (threadId: string) =>
    request<unknown>(`/threads/${encodeURIComponent(threadId)}`, { method: "DELETE" }),
  search: (q: string, cursor?: string | null) =>
    request<SearchPage>(`/search${query({ q, cursor: cursor ?? undefined })}`),
  wsTicket: () => request<{ ticket: string }>("/ws-ticket", { method: "POST", body: "{}" }),
  me: () => request<Me>("/me"),
  signIn: (username: string, password: string) =>
    request<undefined>("/auth/login", { method: "POST", body: JSON.stringify({ username, password }) }),
  signOut: () => request<undefined>("/auth/logout", { method: "POST", body: "{}" }),
  tokens: () => request<{ tokens: PersonalToken[] }>("/tokens"),
  createToken: (name: string) =>
    request<{ token: PersonalToken; secret: string }>("/tokens", { method: "POST", body: JSON.stringify({ name }) }),
  revokeToken: (tokenId: string) => request<undefined>(`/tokens/${encodeURIComponent(tokenId)}`, { method: "DELETE" }),
};

/** Save a thread's export (`format` md or json) as a file, with the token when one is needed. */
export async function downloadExport(threadId: string, format: "md" | "json"): Promise<void> {
  const headers = new Headers();
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const path = `/threads/${encodeURIComponent(threadId)}/export?format=${format}`;
  let response: Response;
  try {
    response = await fetch(path, { headers });
  } catch {
    throw new ApiError(0, "The server cannot be reached.");
  }
  if (!response.ok) throw new ApiError(response.status, `The export failed (${response.status}).`);
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? `thread.${format}`;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The address for the next WebSocket attempt: with a fresh single-use ticket when auth is on. */
export async function gatewayAddress(config: AppConfig): Promise<string> {
  if (!config.authRequired) return config.gatewayUrl;
  const { ticket } = await api.wsTicket();
  const sep = config.gatewayUrl.includes("?") ? "&" : "?";
  return `${config.gatewayUrl}${sep}ticket=${encodeURIComponent(ticket)}`;
}
