// Wires the pure pieces together for React: the socket, the reducer, and the query cache.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { api, ApiError, gatewayAddress, type AppConfig, type MessagePage } from "../api";
import { renameInList, threadsKey, withThreadChanged, type ThreadPages } from "../threadList";
import { removeQueuedMessage, setPermissionMode } from "../threadApi";
import type { ApprovalAnswer, ApprovalItem } from "./approvals";
import {
  canSend,
  chatReducer,
  draftOf,
  initialChatState,
  isBusy,
  queuedMessages,
  waitingApprovals,
  type ChatMessage,
  type ChatState,
} from "./chatState";
import { draftKey, loadDraft, NEW_CONVERSATION, saveDraft } from "./draftStore";
import { ThreadFollower } from "./following";
import type { PermissionMode, ServerEvent } from "./protocol";
import { ChatSocket, type ConnectionInfo } from "./socket";

/** With no event for this long during a turn, re-read the store in case the turn ended unseen. */
const STALE_TURN_MS = 5_000;

export { threadsKey };
export const messagesKey = (threadId: string) => ["messages", threadId] as const;

let localCounter = 0;

export interface Chat {
  state: ChatState;
  draft: string;
  /** A reply is being written or a send waits for its answer. */
  busy: boolean;
  /** A reply is being written: Stop applies. */
  running: boolean;
  /** A message can be sent now (while a reply is written, it is queued; in a new conversation, it stores the thread). */
  canSend: boolean;
  /** Approval requests of the running reply that wait for a person. */
  waiting: ApprovalItem[];
  /** Messages waiting for their turn, next first. */
  queued: ChatMessage[];
  connection: ConnectionInfo;
  historyError: ApiError | null;
  /** The newest page of the open thread as last read (older pages load on demand). */
  historyPage: MessagePage | undefined;
  setDraft: (text: string) => void;
  /** The new conversation's text becomes the unsent text of the thread just stored for it. */
  moveNewDraft: (threadId: string) => void;
  send: (text: string) => boolean;
  /** Run the thread's last message again (its reply failed or was stopped); false when not connected. */
  retry: () => boolean;
  cancel: () => void;
  answer: (requestId: string, answer: ApprovalAnswer) => boolean;
  removeQueued: (messageId: string) => Promise<void>;
  changePermissionMode: (mode: PermissionMode) => Promise<void>;
  dismissNotice: () => void;
  reconnectNow: () => void;
}

export function useChat(config: AppConfig, threadId: string | null): Chat {
  const client = useQueryClient();
  const [state, dispatch] = useReducer(chatReducer, initialChatState);
  const [connection, setConnection] = useState<ConnectionInfo>({
    status: "connecting",
    failures: 0,
    retryAt: null,
    epoch: 0,
  });
  const socketRef = useRef<ChatSocket | null>(null);
  const stateRef = useRef(state);
  stateRef.current = state;
  const lastEventAt = useRef(Date.now());
  const openGeneration = useRef(0);
  const follower = useRef<ThreadFollower | null>(null);
  /** The thread a resume was sent for and not yet answered. */
  const resumingThread = useRef<string | null>(null);

  // --- the thread on screen -----------------------------------------------------------------------
  useEffect(() => {
    openGeneration.current += 1;
    dispatch({ type: "open", threadId });
  }, [threadId]);

  // Unsent text survives a reload (also the unsaved new conversation's): restored when the thread
  // opens, saved as it changes. Text this page never held is not saved, so nothing stored is erased.
  const key = draftKey(threadId);
  useEffect(() => {
    const saved = loadDraft(key);
    if (saved && !draftOf(stateRef.current, threadId)) dispatch({ type: "draft", threadId: key, text: saved });
  }, [key]);
  const currentDraft: string | undefined = state.drafts[key];
  useEffect(() => {
    if (state.threadId === threadId && currentDraft !== undefined) saveDraft(key, currentDraft);
  }, [key, threadId, state.threadId, currentDraft]);

  const history = useQuery({
    queryKey: messagesKey(threadId ?? ""),
    queryFn: () => api.messages(threadId!),
    enabled: threadId !== null,
    retry: (count, error) => !(error instanceof ApiError && error.status === 404) && count < 3,
  });

  useEffect(() => {
    if (threadId && history.data) dispatch({ type: "history", threadId, messages: history.data.messages });
  }, [threadId, history.data]);

  // --- the socket ---------------------------------------------------------------------------------
  const onEvent = useCallback(
    (event: ServerEvent) => {
      lastEventAt.current = Date.now();
      const current = stateRef.current;
      if (resumingThread.current !== null && event.threadId === resumingThread.current) {
        resumingThread.current = null;
        if (event.type === "error" && !event.turnId && !current.pending) {
          // "Nothing to resume": the turn ended beyond the replay log; re-read the store instead.
          dispatch({ type: "resume_failed", threadId: event.threadId });
          void client.invalidateQueries({ queryKey: messagesKey(event.threadId) });
          return;
        }
      }
      dispatch({ type: "event", event });
      if (event.type === "watching" && event.threadId === current.threadId) {
        // Resume from what this page has, as the reducer leaves it once `watching` is applied.
        const next = chatReducer(current, { type: "event", event });
        if (follower.current?.caughtUp(next, event)) resumingThread.current = event.threadId;
      }
      if (event.type === "title") {
        renameInList(client, event.threadId, event.title);
        void client.invalidateQueries({ queryKey: threadsKey });
      }
      if (event.type === "approval" || event.type === "approval_answered") {
        // The thread list says which threads wait for a person.
        void client.invalidateQueries({ queryKey: threadsKey });
      }
      if (event.type === "done" || (event.type === "error" && event.turnId)) {
        void client.invalidateQueries({ queryKey: threadsKey });
        if (event.threadId) void client.invalidateQueries({ queryKey: messagesKey(event.threadId) });
      }
    },
    [client],
  );

  useEffect(() => {
    const socket = new ChatSocket({
      url: () => gatewayAddress(config),
      onEvent,
      onInfo: setConnection,
      onDrop: () => dispatch({ type: "connection_lost" }),
    });
    socketRef.current = socket;
    follower.current = new ThreadFollower((request) => socket.send(request));
    socket.start();
    const online = () => socket.retryNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      socket.stop();
      socketRef.current = null;
      follower.current = null;
    };
  }, [config, onEvent]);

  // After every (re)connect, re-read the open thread: a turn may have ended or started meanwhile.
  useEffect(() => {
    if (connection.epoch > 0 && threadId) void client.invalidateQueries({ queryKey: messagesKey(threadId) });
  }, [connection.epoch, threadId, client]);

  // Follow the open thread: after its stored messages are read, and again after every reconnect.
  useEffect(() => {
    follower.current?.sync({
      epoch: connection.epoch,
      open: connection.status === "open",
      threadId,
      opening: openGeneration.current,
      historyLoaded: state.historyLoaded,
    });
  }, [connection.status, connection.epoch, threadId, state.historyLoaded]);

  // An event named a message this page has not read (another tab's send): read the store again.
  const refetchHistory = history.refetch;
  useEffect(() => {
    if (!state.stale || !threadId) return;
    void refetchHistory().then((result) => {
      if (result.data) dispatch({ type: "history", threadId, messages: result.data.messages });
    });
  }, [state.stale, threadId, refetchHistory]);

  // A turn that went quiet may have ended while we could not hear it; the store knows.
  const turnActive = state.turn !== null;
  useEffect(() => {
    if (!turnActive || !threadId) return;
    const timer = setInterval(() => {
      if (Date.now() - lastEventAt.current > STALE_TURN_MS) {
        void client.invalidateQueries({ queryKey: messagesKey(threadId) });
      }
    }, STALE_TURN_MS);
    return () => clearInterval(timer);
  }, [turnActive, threadId, client]);

  // --- actions ------------------------------------------------------------------------------------
  const setDraft = useCallback((text: string) => dispatch({ type: "draft", threadId: key, text }), [key]);

  const moveNewDraft = useCallback((threadId: string) => {
    const text = draftOf(stateRef.current, null);
    dispatch({ type: "draft", threadId, text });
    dispatch({ type: "draft", threadId: NEW_CONVERSATION, text: "" });
    saveDraft(threadId, text);
    saveDraft(NEW_CONVERSATION, "");
  }, []);

  const send = useCallback(
    (text: string): boolean => {
      const socket = socketRef.current;
      const content = text.trim();
      if (!socket || !socket.isOpen || !threadId || !content || !canSend(stateRef.current)) return false;
      localCounter += 1;
      const localId = `local-${Date.now()}-${localCounter}`;
      dispatch({ type: "send", threadId, localId, content, createdAt: new Date().toISOString() });
      lastEventAt.current = Date.now();
      if (!socket.send({ type: "message", threadId, content, clientMessageId: localId })) {
        dispatch({ type: "connection_lost" });
        return false;
      }
      return true;
    },
    [threadId],
  );

  /** Run the thread's last message again (its reply failed or was stopped); false when not connected. */
  const retry = useCallback((): boolean => {
    if (!threadId || !socketRef.current?.isOpen) return false;
    lastEventAt.current = Date.now();
    return socketRef.current.send({ type: "retry", threadId });
  }, [threadId]);

  const cancel = useCallback(() => {
    if (threadId) socketRef.current?.send({ type: "cancel", threadId });
  }, [threadId]);

  const answer = useCallback(
    (requestId: string, { decision, message, answers }: ApprovalAnswer): boolean => {
      if (!threadId || !socketRef.current?.send({ type: "approve", threadId, requestId, decision, message, answers })) {
        return false;
      }
      dispatch({ type: "answer", requestId, decision });
      return true;
    },
    [threadId],
  );

  const removeQueued = useCallback(
    async (messageId: string): Promise<void> => {
      if (!threadId) return;
      try {
        await removeQueuedMessage(threadId, messageId);
        dispatch({ type: "event", event: { type: "unqueued", threadId, messageId } });
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        dispatch({ type: "notice", notice: { code: `http_${e.status}`, message: e.detail } });
      }
    },
    [threadId],
  );

  const changePermissionMode = useCallback(
    async (mode: PermissionMode): Promise<void> => {
      if (!threadId) return;
      const { thread } = await setPermissionMode(threadId, mode);
      client.setQueryData<ThreadPages>(threadsKey, (data) => withThreadChanged(data, thread.id, () => thread));
    },
    [threadId, client],
  );

  const dismissNotice = useCallback(() => dispatch({ type: "dismiss_notice" }), []);
  const reconnectNow = useCallback(() => socketRef.current?.retryNow(), []);

  return {
    state,
    draft: draftOf(state, threadId),
    busy: isBusy(state),
    running: state.turn !== null,
    canSend: threadId === null ? state.pending === null : canSend(state),
    waiting: waitingApprovals(state),
    queued: queuedMessages(state),
    connection,
    historyError: history.error instanceof ApiError ? history.error : null,
    historyPage: threadId ? history.data : undefined,
    setDraft,
    moveNewDraft,
    send,
    retry,
    cancel,
    answer,
    removeQueued,
    changePermissionMode,
    dismissNotice,
    reconnectNow,
  };
}
