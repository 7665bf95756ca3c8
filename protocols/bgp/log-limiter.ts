// Rate-limited logging: the first line of a kind in an interval is logged, the rest are only
// counted and summed up in one line when the interval ends, so a scanner or a peer repeating an
// error cannot fill the logs (the counters in resources.ts keep the exact numbers).
import type { Clock, TimerHandle } from '../clock.js';

interface Window {
  suppressed: number;
  timer: TimerHandle;
  summary: (suppressed: number, intervalMs: number) => void;
}

export const LOG_INTERVAL_MS = 60_000;

export class LogLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    readonly intervalMs = LOG_INTERVAL_MS,
  ) {}

  /**
   * Logs through `emit` unless a line of this `key` was logged in the current interval; then it is
   * counted, and `summary` is called once at the interval's end with how many were not logged.
   * Keys must come from a bounded set (a reason, a peer of the config), never a remote address.
   */
  note(key: string, emit: () => void, summary: (suppressed: number, intervalMs: number) => void): void {
    const w = this.windows.get(key);
    if (w) {
      w.suppressed++;
      w.summary = summary;
      return;
    }
    emit();
    const timer = this.clock.setTimeout(() => this.end(key), this.intervalMs);
    this.windows.set(key, { suppressed: 0, timer, summary });
  }

  /** Writes the pending summaries now and stops the timers (on shutdown). */
  close(): void {
    for (const key of [...this.windows.keys()]) {
      const w = this.windows.get(key)!;
      this.clock.clearTimeout(w.timer);
      this.end(key);
    }
  }

  private end(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    if (w.suppressed > 0) w.summary(w.suppressed, this.intervalMs);
  }
}
