import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api, ApiError, authModeOf, downloadExport, getToken, onAuthRequired, type AppConfig, type Me } from "./api";
import type { ApprovalAnswer } from "./chat/approvals";
import { fromStored } from "./chat/chatMessage";
import type { ChatMessage } from "./chat/chatState";
import { useOlderMessages } from "./chat/olderMessages";
import type { PermissionMode, Thread } from "./chat/protocol";
import { useNotifications } from "./chat/notifications";
import { useReplyAnnouncement } from "./chat/replyAnnouncement";
import { useChat } from "./chat/useChat";
import { AgentStateBanner, useAgentTrouble } from "./components/AgentStateBanner";
import { Composer } from "./components/Composer";
import { ForkOrigin } from "./components/ForkOrigin";
import { MessageActionsContext, type MessageActionsValue } from "./components/MessageActions";
import { ConnectionIndicator } from "./components/ConnectionIndicator";
import { Header } from "./components/Header";
import { Icon } from "./components/Icon";
import { MessageList } from "./components/MessageList";
import { NotifyToggle } from "./components/NotifyToggle";
import { PermissionModeSelect } from "./components/PermissionModeSelect";
import { RunnerLabel } from "./components/RunnerLabel";
import { SearchBox } from "./components/SearchBox";
import { Sidebar, useWideScreen } from "./components/Sidebar";
import { SignInForm } from "./components/SignInForm";
import { TokenForm } from "./components/TokenForm";
import { UserMenu } from "./components/UserMenu";
import { pageTitle } from "./pageTitle";
import { setPermissionMode } from "./threadApi";
import { useThreadRoute } from "./route";
import {
  flattenThreads,
  renameInList,
  threadsKey,
  useThreadList,
  withoutThread,
  withThreadFirst,
  type ThreadPages,
} from "./threadList";

const DEFAULT_PERMISSION_MODE = "bypassPermissions";

const NOTICE_HINTS: Record<string, string> = {
  thread_busy: "This thread is still busy with a reply. Your message is back in the box; send it when the reply ends.",
  too_large: "That message is too large to send. It is back in the box.",
  invalid_message: "The server could not accept that message. It is back in the box.",
};

function Centered({ children }: { children: ReactNode }) {
  return <main className="flex h-dvh items-center justify-center bg-neutral-950 p-6 text-neutral-400">{children}</main>;
}

export function App() {
  const client = useQueryClient();
  const [authNeeded, setAuthNeeded] = useState(false);
  const [rejected, setRejected] = useState(false);
  // Bumped when a token is entered, so the page re-reads it from storage.
  const [, setTokenVersion] = useState(0);
  useEffect(
    () =>
      onAuthRequired(() => {
        setRejected(true);
        setAuthNeeded(true);
      }),
    [],
  );
  const config = useQuery({ queryKey: ["config"], queryFn: api.config, staleTime: Infinity, retry: 2 });
  const mode = config.data ? authModeOf(config.data) : null;
  const me = useQuery({
    queryKey: ["me"],
    queryFn: api.me,
    enabled: mode !== null && (mode !== "token" || getToken() !== null) && !authNeeded,
    retry: false,
  });

  if (mode === "accounts" && (authNeeded || (me.error instanceof ApiError && me.error.status === 401))) {
    return (
      <SignInForm
        onDone={() => {
          setAuthNeeded(false);
          void client.resetQueries();
        }}
      />
    );
  }
  if (mode === "token" && (authNeeded || !getToken())) {
    return (
      <TokenForm
        rejected={rejected}
        onDone={() => {
          setAuthNeeded(false);
          setTokenVersion((v) => v + 1);
          void client.invalidateQueries();
        }}
      />
    );
  }
  if (config.isPending) return <Centered>Loading…</Centered>;
  if (config.isError) {
    return (
      <Centered>
        <div data-testid="config-error" className="text-center">
          <p className="text-neutral-200">The chat server cannot be reached.</p>
          <p className="mt-1 text-sm">{config.error.message}</p>
          <button
            type="button"
            onClick={() => void config.refetch()}
            className="mt-4 rounded-lg border border-neutral-700 px-3 py-1.5 text-sm text-neutral-200 hover:bg-neutral-800"
          >
            Try again
          </button>
        </div>
      </Centered>
    );
  }
  if (mode === "accounts" && !me.data) return <Centered>Loading…</Centered>;
  return <ChatPage config={config.data} me={me.data ?? null} />;
}

function ChatPage({ config, me }: { config: AppConfig; me: Me | null }) {
  const client = useQueryClient();
  const [threadId, navigate] = useThreadRoute();
  // Re-read also in a background tab: another thread's agent may start waiting for you.
  const threads = useThreadList();
  const chat = useChat(config, threadId);
  const older = useOlderMessages(threadId, chat.historyPage);
  const [actionError, setActionError] = useState<string | null>(null);
  const [searching, setSearching] = useState(false);
  // A search hit to show: its thread opens, older pages load until the message is there.
  const [focus, setFocus] = useState<{ threadId: string; messageId: string } | null>(null);
  const [shownHit, setShownHit] = useState<string | null>(null);

  const addThread = (thread: Thread) =>
    client.setQueryData<ThreadPages>(threadsKey, (data) => withThreadFirst(data, thread));

  const sendWhenOpen = useSendWhenOpen(chat, threadId);
  const [chosen, setChosen] = useState(false);

  // A new conversation is stored by its first message: until then no thread exists for it.
  // The permission mode picked before the first message is the new thread's from its first turn.
  const [newMode, setNewMode] = useState<PermissionMode | null>(null);
  const create = useMutation({
    mutationFn: async () => {
      const created = await api.createThread();
      const mode = created.thread.permissionMode ?? DEFAULT_PERMISSION_MODE;
      return newMode && newMode !== mode ? setPermissionMode(created.thread.id, newMode) : created;
    },
    onSuccess: ({ thread }) => {
      addThread(thread);
      setNewMode(null);
      setActionError(null);
      chat.moveNewDraft(thread.id);
      sendWhenOpen(thread.id, null);
      navigate(thread.id);
      void client.invalidateQueries({ queryKey: threadsKey });
    },
    onError: (e) => setActionError(`Could not start the conversation: ${e.message}. Your message is still in the box.`),
  });
  const startNew = () => {
    setChosen(true);
    navigate(null);
  };

  // First load at / or /chat: open the most recent thread, or show the new conversation. Once only.
  useEffect(() => {
    if (threadId || !threads.data || chosen) return;
    setChosen(true);
    const latest = flattenThreads(threads.data)[0];
    if (latest) navigate(latest.id, true);
  }, [threadId, threads.data, chosen]);

  // A thread that no longer exists (deleted elsewhere, a stale link): fall back to the list.
  useEffect(() => {
    if (chat.historyError?.status === 404 && threadId) {
      setActionError("That thread does not exist any more.");
      client.setQueryData<ThreadPages>(threadsKey, (data) => withoutThread(data, threadId));
      setChosen(false);
      navigate(null, true);
    }
  }, [chat.historyError, threadId, navigate, client]);

  // The open thread's approvals are known here first (the list is re-read after they change).
  const waitingHere = chat.waiting.length > 0;
  const list = useMemo(
    () =>
      flattenThreads(threads.data).map((t) =>
        t.id === threadId && waitingHere && t.activity !== "waiting" ? { ...t, activity: "waiting" as const } : t,
      ),
    [threads.data, threadId, waitingHere],
  );
  const listed = list.find((t) => t.id === threadId);
  // A thread beyond the loaded pages (a deep link, an old search hit) is read on its own.
  const single = useQuery({
    queryKey: ["thread", threadId],
    queryFn: () => api.thread(threadId!),
    enabled: threadId !== null && !listed && !threads.isPending,
    retry: false,
  });
  const current: Thread | null =
    listed ??
    (single.data?.thread.id === threadId ? single.data.thread : null) ??
    (threadId ? { id: threadId, title: "", claudeSessionId: null, createdAt: "", updatedAt: "" } : null);
  const loadMoreThreads = () => {
    if (threads.hasNextPage && !threads.isFetchingNextPage) void threads.fetchNextPage();
  };
  const waitingAnywhere = list.some((t) => t.activity === "waiting");

  useEffect(() => {
    document.title = pageTitle(current?.title, waitingAnywhere);
  }, [current?.title, waitingAnywhere]);

  const changeMode = async (mode: PermissionMode) => {
    try {
      await chat.changePermissionMode(mode);
    } catch (e) {
      setActionError(`Could not change the permission mode: ${(e as Error).message}`);
    }
  };

  const rename = async (title: string) => {
    if (!threadId) return;
    renameInList(client, threadId, title);
    client.setQueryData<{ thread: Thread }>(["thread", threadId], (data) =>
      data ? { thread: { ...data.thread, title } } : data,
    );
    try {
      await api.renameThread(threadId, title);
    } catch (e) {
      setActionError(`Could not rename the thread: ${(e as Error).message}`);
    }
    void client.invalidateQueries({ queryKey: threadsKey });
  };

  const remove = async () => {
    if (!threadId) return;
    try {
      await api.deleteThread(threadId);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        setActionError(`Could not delete the thread: ${(e as Error).message}`);
        return;
      }
    }
    const rest = list.filter((t) => t.id !== threadId);
    client.setQueryData<ThreadPages>(threadsKey, (data) => withoutThread(data, threadId));
    client.removeQueries({ queryKey: ["messages", threadId] });
    navigate(rest[0]?.id ?? null, true);
    void client.invalidateQueries({ queryKey: threadsKey });
  };

  const signOut = async () => {
    try {
      await api.signOut();
    } catch {
      // Signed out already (or the server is away): the page asks to sign in either way.
    }
    window.location.assign("/");
  };

  const chatAnswer = chat.answer;
  const answer = useCallback(
    (requestId: string, reply: ApprovalAnswer) => {
      if (!chatAnswer(requestId, reply)) setActionError("Not connected: the answer was not sent. Try again when the connection is back.");
    },
    [chatAnswer],
  );

  const agentTrouble = useAgentTrouble();
  const notice = chat.state.notice;
  const connected = chat.connection.status === "open";
  const historyLoading = threadId !== null && !chat.state.historyLoaded;

  const refusal = chat.connection.status !== "open" ? chat.connection.refusal : null;
  const lost = !refusal && chat.connection.status !== "open" && chat.connection.epoch > 0;
  const connectionNotice = refusal ? (
    <div
      data-testid="connection-refused"
      role="alert"
      className="rounded-xl border border-red-900/50 bg-red-950/20 px-4 py-3 text-sm text-red-100/90"
    >
      The chat server refused this page: {refusal}
    </div>
  ) : lost ? (
    <div
      data-testid="connection-lost"
      className="flex items-center gap-3 rounded-xl border border-amber-900/50 bg-amber-950/20 px-4 py-3 text-sm text-amber-100/90"
    >
      <span className="size-2 shrink-0 animate-pulse rounded-full bg-amber-400" />
      <span className="min-w-0 flex-1">
        Connection to the chat server lost. Reconnecting…
        {chat.state.turn ? " The reply continues where it left off." : ""}
      </span>
      <button
        type="button"
        onClick={chat.reconnectNow}
        className="rounded-md border border-amber-800/60 px-2 py-0.5 text-xs hover:bg-amber-900/30"
      >
        Retry now
      </button>
    </div>
  ) : null;

  const errorNotice =
    notice || actionError ? (
      <div
        data-testid="chat-error"
        data-code={notice?.code ?? "action"}
        role="alert"
        className="flex items-start gap-3 rounded-xl border border-red-900/60 bg-red-950/30 px-4 py-3 text-sm text-red-100"
      >
        <span className="mt-1 size-2 shrink-0 rounded-full bg-red-400" />
        <div className="min-w-0 flex-1">
          {notice && <p>{notice.message}</p>}
          {notice && NOTICE_HINTS[notice.code] && <p className="mt-1 text-red-200/70">{NOTICE_HINTS[notice.code]}</p>}
          {actionError && <p>{actionError}</p>}
        </div>
        <button
          type="button"
          aria-label="Dismiss"
          onClick={() => {
            chat.dismissNotice();
            setActionError(null);
          }}
          className="text-red-200/60 hover:text-red-100"
        >
          ✕
        </button>
      </div>
    ) : null;

  const footer =
    connectionNotice || errorNotice || agentTrouble ? (
      <>
        {errorNotice}
        {connectionNotice}
        {agentTrouble && <AgentStateBanner agent={agentTrouble} />}
      </>
    ) : undefined;

  const empty = (
    <div data-testid="empty-thread" className="flex flex-col items-center pt-[18dvh] text-center">
      <div className="flex size-11 items-center justify-center rounded-2xl border border-neutral-800 bg-neutral-900 text-xl">
        ✦
      </div>
      <h2 className="mt-4 text-xl font-medium text-neutral-100">What are we working on?</h2>
      <p className="mt-2 max-w-sm text-sm text-neutral-400">
        Ask the agent to read, write or run code in its sandbox. Replies stream in as they are written.
      </p>
    </div>
  );

  // Narrow screens: the sidebar opens over the conversation from the header's menu button.
  const wide = useWideScreen();
  const [menuOpen, setMenuOpen] = useState(false);
  const drawer = menuOpen && !wide;
  const closeMenu = useCallback(() => setMenuOpen(false), []);
  // Closed with Escape or its ✕: the reader is back on the button that opened it (once main is not inert).
  const wasOpen = useRef(false);
  useEffect(() => {
    if (wasOpen.current && !drawer && !document.activeElement?.closest("main")) {
      document.querySelector<HTMLElement>("[data-testid=open-sidebar]")?.focus();
    }
    wasOpen.current = drawer;
  }, [drawer]);
  const select = (id: string) => {
    setMenuOpen(false);
    navigate(id);
  };

  const openHit = (hitThread: string, messageId: string | null) => {
    setMenuOpen(false);
    navigate(hitThread);
    setShownHit(null);
    setFocus(messageId ? { threadId: hitThread, messageId } : null);
  };
  const historyLoaded = chat.state.historyLoaded && chat.state.threadId === threadId;
  const reach = older.reach;
  useEffect(() => {
    if (!focus || focus.threadId !== threadId || !historyLoaded) return;
    let cancelled = false;
    const inView = chat.state.messages.some((m) => m.id === focus.messageId);
    void (inView ? Promise.resolve(true) : reach(focus.messageId)).then((found) => {
      if (cancelled) return;
      setFocus(null);
      if (!found) return;
      if (found) setShownHit(focus.messageId);
    });
    return () => {
      cancelled = true;
    };
  }, [focus, threadId, historyLoaded, reach]);

  // Screen readers hear each finished reply once (a polite live region), never token by token.
  const announcement = useReplyAnnouncement(chat.state.messages);
  // While the tab is hidden, a browser notification per finished reply or approval request (opt-in).
  useNotifications(threadId, current?.title, chat.state.messages, navigate);

  const shown = useMemo(() => {
    const live = new Set(chat.state.messages.map((m) => m.id));
    return [...older.messages.filter((m) => !live.has(m.id)).map(fromStored), ...chat.state.messages];
  }, [older.messages, chat.state.messages]);

  const actions = useMessageActions(chat, shown, threadId, connected, navigate, addThread, setActionError, sendWhenOpen);

  return (
    <MessageActionsContext.Provider value={actions}>
    <div className="flex h-dvh overflow-hidden bg-neutral-950">
      <Sidebar
        threads={list}
        currentId={threadId}
        onSelect={select}
        onNew={() => {
          setMenuOpen(false);
          startNew();
        }}
        open={drawer}
        onClose={closeMenu}
        hasMore={threads.hasNextPage}
        loadingMore={threads.isFetchingNextPage}
        onMore={loadMoreThreads}
        searching={searching}
        search={<SearchBox onOpen={openHit} onActive={setSearching} />}
      />
      <main className="flex min-w-0 flex-1 flex-col" inert={drawer} data-thread={threadId ?? (chosen ? "new" : "choosing")}>
        <h1 className="sr-only">{current?.title || "sandchat"}</h1>
        <div aria-live="polite" data-testid="reply-announcement" className="sr-only">
          {announcement}
        </div>
      <Header
        leading={
          <button
            type="button"
            data-testid="open-sidebar"
            aria-label="Threads, search and theme"
            aria-controls="sidebar"
            aria-expanded={drawer}
            onClick={() => setMenuOpen(true)}
            className="flex size-8 shrink-0 items-center justify-center rounded-lg text-neutral-300 hover:bg-neutral-800 hover:text-neutral-100 lg:hidden"
          >
            <Icon className="size-5" d="M2 4.75A.75.75 0 0 1 2.75 4h14.5a.75.75 0 0 1 0 1.5H2.75A.75.75 0 0 1 2 4.75ZM2 10a.75.75 0 0 1 .75-.75h14.5a.75.75 0 0 1 0 1.5H2.75A.75.75 0 0 1 2 10Zm0 5.25a.75.75 0 0 1 .75-.75h14.5a.75.75 0 0 1 0 1.5H2.75a.75.75 0 0 1-.75-.75Z" />
          </button>
        }
        threads={list}
        hasMore={threads.hasNextPage}
        loadingMore={threads.isFetchingNextPage}
        onMore={loadMoreThreads}
        current={current}
        onSelect={(id) => navigate(id)}
        onNew={startNew}
        onRename={(title) => void rename(title)}
        onDelete={() => void remove()}
        onExport={(format) => {
          if (threadId) {
            downloadExport(threadId, format).catch((e: Error) => setActionError(`Could not export the thread: ${e.message}`));
          }
        }}
        right={
          <>
            {current ? (
              <PermissionModeSelect
                value={current.permissionMode ?? DEFAULT_PERMISSION_MODE}
                onChange={(mode) => void changeMode(mode)}
              />
            ) : (
              <PermissionModeSelect value={newMode ?? DEFAULT_PERMISSION_MODE} onChange={setNewMode} />
            )}
            <NotifyToggle />
            <RunnerLabel runner={config.runner} />
            <ConnectionIndicator info={chat.connection} onRetry={chat.reconnectNow} />
            {me && me.authMode !== "none" && (
              <UserMenu me={me} onSignOut={me.authMode === "accounts" ? () => void signOut() : null} />
            )}
          </>
        }
      />
      <ForkOrigin thread={current} onOpen={(id) => navigate(id)} />
      <MessageList
        threadId={threadId}
        messages={shown}
        loading={historyLoading}
        hasOlder={older.hasMore}
        loadingOlder={older.loading}
        onLoadOlder={() => void older.loadOlder()}
        focusId={shownHit}
        footer={footer}
        empty={empty}
        onAnswer={answer}
        onRemoveQueued={(messageId) => void chat.removeQueued(messageId)}
      />
      <Composer
        value={chat.draft}
        onChange={chat.setDraft}
        onSend={() => (threadId ? chat.send(chat.draft) : create.mutate())}
        onStop={chat.cancel}
        running={chat.running}
        canSend={chat.canSend && !create.isPending}
        connected={connected}
        threadId={threadId}
      />
      </main>
    </div>
    </MessageActionsContext.Provider>
  );
}

const RETRYABLE = new Set(["error", "cancelled", "interrupted"]);

/** Retry the failed last reply; edit a sent message into a new thread and send the edit there. */
function useMessageActions(
  chat: ReturnType<typeof useChat>,
  shown: ChatMessage[],
  threadId: string | null,
  connected: boolean,
  navigate: (threadId: string | null) => void,
  addThread: (thread: Thread) => void,
  setActionError: (error: string | null) => void,
  sendWhenOpen: (threadId: string, content: string | null) => void,
): MessageActionsValue {
  const last = shown[shown.length - 1];
  const retryableId =
    last && last.role === "assistant" && RETRYABLE.has(last.status) && !chat.running && connected ? last.id : null;
  const onRetry = useCallback(() => {
    if (!chat.retry()) setActionError("Not connected: nothing was retried. Try again when the connection is back.");
  }, [chat.retry, setActionError]);
  const onEdit = useCallback(
    (messageId: string, content: string) => {
      if (!threadId) return;
      api
        .forkThread(threadId, messageId)
        .then(({ thread }) => {
          addThread(thread);
          sendWhenOpen(thread.id, content);
          navigate(thread.id);
        })
        .catch((e: Error) => setActionError(`Could not edit the message: ${e.message}`));
    },
    [threadId, addThread, navigate, setActionError, sendWhenOpen],
  );
  return useMemo(
    () => ({ retryableId, onRetry, onEdit: connected ? onEdit : null }),
    [retryableId, onRetry, onEdit, connected],
  );
}

/**
 * A message for a thread just stored (an edit's fork, a new conversation's first message), sent once
 * that thread is open, its messages read and the socket up. `null` sends the thread's unsent text.
 */
function useSendWhenOpen(chat: ReturnType<typeof useChat>, threadId: string | null) {
  const [pending, setPending] = useState<{ threadId: string; content: string | null } | null>(null);
  const ready = chat.state.threadId === threadId && chat.state.historyLoaded && chat.connection.status === "open";
  const { send, draft } = chat;
  useEffect(() => {
    if (!pending || pending.threadId !== threadId || !ready) return;
    const text = pending.content ?? draft;
    if (!text.trim() || send(text)) setPending(null);
  }, [pending, threadId, ready, send, draft]);
  return useCallback((threadId: string, content: string | null) => setPending({ threadId, content }), []);
}
