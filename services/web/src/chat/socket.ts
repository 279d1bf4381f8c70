// One WebSocket to the gateway, reconnected with backoff (1, 2, 4 … 30 s) until stopped.
// It knows nothing about threads: it hands parsed events up and reports its state.

import { backoffDelayMs } from "./backoff";
import { parseServerEvent } from "./frames";
import type { ClientRequest, ServerEvent } from "./protocol";

export type ConnectionStatus = "connecting" | "open" | "waiting" | "stopped";

/** The close code of a gateway that refuses this page (its origin is not allowed); the reason says why. */
export const POLICY_VIOLATION = 1008;

export interface ConnectionInfo {
  status: ConnectionStatus;
  /** Consecutive failed or dropped connections since the last good one. */
  failures: number;
  /** When the next attempt starts (epoch ms), while waiting. */
  retryAt: number | null;
  /** Counts successful opens; a new value means "just (re)connected". */
  epoch: number;
  /** Why the gateway refused this page, when it did (shown until a connection works). */
  refusal?: string | null;
}

export interface ChatSocketOptions {
  /** The URL for the next attempt (may fetch a one-time ticket, so it is asked for every time). */
  url: () => Promise<string>;
  onEvent: (event: ServerEvent) => void;
  onInfo: (info: ConnectionInfo) => void;
  /** The open connection went away (not called for attempts that never opened). */
  onDrop: () => void;
}

export class ChatSocket {
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private info: ConnectionInfo = { status: "connecting", failures: 0, retryAt: null, epoch: 0 };
  private stopped = false;

  constructor(private readonly opts: ChatSocketOptions) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setInfo({ status: "stopped", retryAt: null });
  }

  /** Skip the rest of the backoff wait (e.g. the browser came back online). */
  retryNow(): void {
    if (this.stopped || this.info.status !== "waiting") return;
    this.clearTimer();
    void this.connect();
  }

  send(request: ClientRequest): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(request));
    return true;
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  private async connect(): Promise<void> {
    this.setInfo({ status: "connecting", retryAt: null });
    let url: string;
    try {
      url = await this.opts.url();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    const failuresBefore = this.info.failures;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.setInfo({ status: "open", failures: 0, retryAt: null, epoch: this.info.epoch + 1 });
    };
    ws.onmessage = (msg: MessageEvent) => {
      if (this.ws !== ws || typeof msg.data !== "string") return;
      const event = parseServerEvent(msg.data);
      if (event) this.opts.onEvent(event);
    };
    ws.onclose = (close: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (close.code === POLICY_VIOLATION) {
        // Refused as soon as it opened: not a working connection lost; keep backing off and say why.
        this.info = { ...this.info, failures: failuresBefore };
        this.scheduleRetry(close.reason || "The chat gateway refused this page.");
        return;
      }
      if (opened) this.opts.onDrop();
      if (!this.stopped) this.scheduleRetry();
    };
  }

  private scheduleRetry(refusal: string | null = null): void {
    if (this.stopped) return;
    const delay = backoffDelayMs(this.info.failures);
    this.clearTimer();
    this.timer = setTimeout(() => void this.connect(), delay);
    this.setInfo({ status: "waiting", failures: this.info.failures + 1, retryAt: Date.now() + delay, refusal });
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private setInfo(patch: Partial<ConnectionInfo>): void {
    this.info = { ...this.info, ...patch };
    this.opts.onInfo(this.info);
  }
}
