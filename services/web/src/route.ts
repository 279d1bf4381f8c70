import { useCallback, useEffect, useState } from "react";

// The URL names the open thread: /chat/<id>. `/` and `/chat` pick one.

export function threadIdFromPath(path: string): string | null {
  const match = /^\/chat\/([^/]+)\/?$/.exec(path);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

export function useThreadRoute(): [string | null, (threadId: string | null, replace?: boolean) => void] {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((threadId: string | null, replace = false) => {
    const next = threadId ? `/chat/${encodeURIComponent(threadId)}` : "/chat";
    if (next !== window.location.pathname) {
      if (replace) window.history.replaceState(null, "", next);
      else window.history.pushState(null, "", next);
    }
    setPath(next);
  }, []);
  return [threadIdFromPath(path), navigate];
}
