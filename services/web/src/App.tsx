import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { api, ApiError, getToken, onAuthRequired, type AppConfig } from "./api";
import type { PermissionMode, Thread } from "./chat/protocol";
import type { ApprovalAnswer } from "./chat/approvals";
import { threadsKey, useChat } from "./chat/useChat";
import { Composer } from "./components/Composer";
import { ConnectionIndicator } from "./components/ConnectionIndicator";
import { Header } from "./components/Header";
import { MessageList } from "./components/MessageList";
import { PermissionModeSelect } from "./components/PermissionModeSelect";
import { RunnerLabel } from "./components/RunnerLabel";
import { TokenForm } from "./components/TokenForm";
import { pageTitle } from "./pageTitle";
import { useThreadRoute } from "./route";

type ThreadPage = { threads: Thread[]; nextCursor: string | null };

const DEFAULT_PERMISSION_MODE = "bypassPermissions";
/** How often the thread list (titles, order, who waits for you) is re-read. */
const THREADS_REFRESH_MS = 30_000;

const NOTICE_HINTS: Record<string, string> = {
  thread_busy: "This thread is still busy with a reply. Your message is back in the box; send it when the reply ends.",
  too_large: "That message is too large to send. It is back in the box.",
  invalid_message: "The server could not accept that message. It is back in the box.",
};

function Centered({ children }: { children: ReactNode }) {
  return <div className="flex h-dvh items-center justify-center bg-neutral-950 p-6 text-neutral-400">{children}</div>;
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

  if (authNeeded || (config.data?.authRequired && !getToken())) {
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
  return <ChatPage config={config.data} />;
}

function ChatPage({ config }: { config: AppConfig }) {
  const client = useQueryClient();
  const [threadId, navigate] = useThreadRoute();
  // Re-read also in a background tab: another thread's agent may start waiting for you.
  const threads = useQuery({
    queryKey: threadsKey,
    queryFn: api.threads,
    refetchInterval: THREADS_REFRESH_MS,
    refetchIntervalInBackground: true,
  });
  const chat = useChat(config, threadId);
  const [actionError, setActionError] = useState<string | null>(null);

  const addThread = (thread: Thread) =>
    client.setQueryData<ThreadPage>(threadsKey, (data) => ({
      threads: [thread, ...(data?.threads ?? []).filter((t) => t.id !== thread.id)],
      nextCursor: data?.nextCursor ?? null,
    }));

  const create = useMutation({
    mutationFn: () => api.createThread(),
    onSuccess: ({ thread }) => {
      addThread(thread);
      navigate(thread.id);
      void client.invalidateQueries({ queryKey: threadsKey });
    },
    onError: (e) => setActionError(`Could not create a thread: ${e.message}`),
  });

  // First load at / or /chat: open the most recent thread, or make one. Once only.
  const choosing = useRef(false);
  useEffect(() => {
    if (threadId || !threads.data || choosing.current) return;
    const latest = threads.data.threads[0];
    if (latest) {
      navigate(latest.id, true);
      return;
    }
    choosing.current = true;
    api
      .createThread()
      .then(({ thread }) => {
        addThread(thread);
        navigate(thread.id, true);
      })
      .catch((e: Error) => setActionError(`Could not create a thread: ${e.message}`))
      .finally(() => {
        choosing.current = false;
      });
  }, [threadId, threads.data]);

  // A thread that no longer exists (deleted elsewhere, a stale link): fall back to the list.
  useEffect(() => {
    if (chat.historyError?.status === 404 && threadId) {
      setActionError("That thread does not exist any more.");
      client.setQueryData<ThreadPage>(threadsKey, (data) =>
        data ? { ...data, threads: data.threads.filter((t) => t.id !== threadId) } : data,
      );
      navigate(null, true);
    }
  }, [chat.historyError, threadId, navigate, client]);

  // The open thread's approvals are known here first (the list is re-read after they change).
  const waitingHere = chat.waiting.length > 0;
  const list = (threads.data?.threads ?? []).map((t) =>
    t.id === threadId && waitingHere && t.activity !== "waiting" ? { ...t, activity: "waiting" as const } : t,
  );
  const current: Thread | null =
    list.find((t) => t.id === threadId) ??
    (threadId ? { id: threadId, title: "", claudeSessionId: null, createdAt: "", updatedAt: "" } : null);
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
    client.setQueryData<ThreadPage>(threadsKey, (data) =>
      data ? { ...data, threads: data.threads.map((t) => (t.id === threadId ? { ...t, title } : t)) } : data,
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
    client.setQueryData<ThreadPage>(threadsKey, (data) => (data ? { ...data, threads: rest } : data));
    client.removeQueries({ queryKey: ["messages", threadId] });
    navigate(rest[0]?.id ?? null, true);
    void client.invalidateQueries({ queryKey: threadsKey });
  };

  const chatAnswer = chat.answer;
  const answer = useCallback(
    (requestId: string, reply: ApprovalAnswer) => {
      if (!chatAnswer(requestId, reply)) setActionError("Not connected: the answer was not sent. Try again when the connection is back.");
    },
    [chatAnswer],
  );

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
    connectionNotice || errorNotice ? (
      <>
        {errorNotice}
        {connectionNotice}
      </>
    ) : undefined;

  const empty = (
    <div data-testid="empty-thread" className="flex flex-col items-center pt-[18dvh] text-center">
      <div className="flex size-11 items-center justify-center rounded-2xl border border-neutral-800 bg-neutral-900 text-xl">
        ✦
      </div>
      <h2 className="mt-4 text-xl font-medium text-neutral-100">What are we working on?</h2>
      <p className="mt-2 max-w-sm text-sm text-neutral-500">
        Ask the agent to read, write or run code in its sandbox. Replies stream in as they are written.
      </p>
    </div>
  );

  return (
    <div className="flex h-dvh flex-col overflow-hidden bg-neutral-950">
      <Header
        threads={list}
        current={current}
        onSelect={(id) => navigate(id)}
        onNew={() => create.mutate()}
        onRename={(title) => void rename(title)}
        onDelete={() => void remove()}
        right={
          <>
            {current && (
              <PermissionModeSelect
                value={current.permissionMode ?? DEFAULT_PERMISSION_MODE}
                onChange={(mode) => void changeMode(mode)}
              />
            )}
            <RunnerLabel runner={config.runner} />
            <ConnectionIndicator info={chat.connection} onRetry={chat.reconnectNow} />
          </>
        }
      />
      <MessageList
        threadId={threadId}
        messages={chat.state.messages}
        loading={historyLoading}
        footer={footer}
        empty={empty}
        onAnswer={answer}
        onRemoveQueued={(messageId) => void chat.removeQueued(messageId)}
      />
      <Composer
        value={chat.draft}
        onChange={chat.setDraft}
        onSend={() => chat.send(chat.draft)}
        onStop={chat.cancel}
        running={chat.running}
        canSend={chat.canSend}
        connected={connected}
        threadId={threadId}
      />
    </div>
  );
}
