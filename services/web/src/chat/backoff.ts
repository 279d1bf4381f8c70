// Reconnect schedule: 1, 2, 4, 8, 16, 30, 30 … seconds after each consecutive failure.

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;

/** Delay before reconnect attempt number `failures` (0 for the first retry after a drop). */
export function backoffDelayMs(failures: number): number {
  const n = Math.max(0, Math.floor(failures));
  // 2 ** 5 already exceeds the cap; clamping the exponent keeps huge counts finite.
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n, 16));
}

/** The first `count` delays, for display and tests. */
export function backoffSchedule(count: number): number[] {
  return Array.from({ length: count }, (_, i) => backoffDelayMs(i));
}
