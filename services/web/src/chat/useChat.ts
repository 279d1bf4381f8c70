// Wires the pure pieces together for React: the socket, the reducer, and the query cache.

import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { api, ApiError, gatewayAddress, type AppConfig } from "../api";
import { chatReducer, draftOf, initialChatState, isBusy, type ChatState } from "./chatState";
import type { ServerEvent, Thread } from "./protocol";
import { resumeAfterSeq } from "./resume";
import { ChatSocket, type ConnectionInfo } from "./socket";

/** With no event for this long during a turn, re-read the store in case the turn ended unseen. */
const STALE_TURN_MS = 5_000;

export const threadsKey = ["threads"] as const;
export const messagesKey = (threadId: string) => ["messages", threadId] as const;

let localCounter = 0;

function applyTitle(client: QueryClient, threadId: string, title: string): void {
  client.setQueryData<{ threads: Thread[]; nextCursor: string | null }>(threadsKey, (data) =>
    data ? { ...data, threads: data.threads.map((t) => (t.id === threadId ? { ...t, title } : t)) } : data,
  );
}

export interface Chat {
  state: ChatState;
  draft: string;
  busy: boolean;
  connection: ConnectionInfo;
  historyError: ApiError | null;
  setDraft: (text: string) => void;
  send: (text: string) => boolean;
  cancel: () => void;
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
  /** Which (connection, thread opening, message) a resume was already asked for. */
  const resumedKey = useRef("");
  const socketEpoch = useRef(0);
  /** The thread a resume was sent for and not yet answered. */
  const resumingThread = useRef<string | null>(null);

  // --- the thread on screen -----------------------------------------------------------------------
  useEffect(() => {
    if (!threadId) return;
    openGeneration.current += 1;
    dispatch({ type: "open", threadId });
  }, [threadId]);

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
      if (event.type === "started" && event.threadId === current.threadId) {
        // We asked for this turn on this connection: its events come without a resume.
        resumedKey.current = `${socketEpoch.current}:${openGeneration.current}:${event.messageId}`;
      }
      dispatch({ type: "event", event });
      if (event.type === "title") {
        applyTitle(client, event.threadId, event.title);
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
      onInfo: (info) => {
        socketEpoch.current = info.epoch;
        setConnection(info);
      },
      onDrop: () => dispatch({ type: "connection_lost" }),
    });
    socketRef.current = socket;
    socket.start();
    const online = () => socket.retryNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      socket.stop();
      socketRef.current = null;
    };
  }, [config, onEvent]);

  // After every (re)connect, re-read the open thread: a turn may have ended or started meanwhile.
  useEffect(() => {
    if (connection.epoch > 0 && threadId) void client.invalidateQueries({ queryKey: messagesKey(threadId) });
  }, [connection.epoch, threadId, client]);

  // Reattach to a running turn: after a reload or a switch (from seq 0), or a reconnect (from the last seq).
  const turnMessageId = state.turn?.messageId ?? null;
  useEffect(() => {
    const socket = socketRef.current;
    const turn = stateRef.current.turn;
    if (!socket || connection.status !== "open" || !threadId || !turn || !turnMessageId) return;
    const key = `${connection.epoch}:${openGeneration.current}:${turnMessageId}`;
    if (resumedKey.current === key) return;
    if (socket.send({ type: "resume", threadId, afterSeq: resumeAfterSeq(turn.cursor) })) {
      resumedKey.current = key;
      resumingThread.current = threadId;
      lastEventAt.current = Date.now();
    }
  }, [connection.status, connection.epoch, threadId, turnMessageId, state.historyLoaded]);

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
  const setDraft = useCallback(
    (text: string) => {
      if (threadId) dispatch({ type: "draft", threadId, text });
    },
    [threadId],
  );

  const send = useCallback(
    (text: string): boolean => {
      const socket = socketRef.current;
      const content = text.trim();
      if (!socket || !socket.isOpen || !threadId || !content || isBusy(stateRef.current)) return false;
      localCounter += 1;
      const localId = `local-${Date.now()}-${localCounter}`;
      dispatch({ type: "send", threadId, localId, content, createdAt: new Date().toISOString() });
      lastEventAt.current = Date.now();
      if (!socket.send({ type: "message", threadId, content })) {
        dispatch({ type: "connection_lost" });
        return false;
      }
      return true;
    },
    [threadId],
  );

  const cancel = useCallback(() => {
    if (threadId) socketRef.current?.send({ type: "cancel", threadId });
  }, [threadId]);

  const dismissNotice = useCallback(() => dispatch({ type: "dismiss_notice" }), []);
  const reconnectNow = useCallback(() => socketRef.current?.retryNow(), []);

  return {
    state,
    draft: draftOf(state, threadId),
    busy: isBusy(state),
    connection,
    historyError: history.error instanceof ApiError ? history.error : null,
    setDraft,
    send,
    cancel,
    dismissNotice,
    reconnectNow,
  };
}
