// The pacing both status writers (pool-status.ts, configuration-state.ts) share: one pass in flight at a
// time, passes at least `minIntervalMs` after the last write a pass made, kicks meanwhile coalesced into
// one timer, a failed pass retried with back-off (a 429's Retry-After honoured). What a pass writes, and
// when it has more to do, is the writer's.
import { Backoff } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';

/** How a pass ended. */
export type PassResult =
  /** Nothing was due: no back-off change, nothing scheduled. */
  | { kind: 'idle' }
  /** Done: the back-off starts over; `again`, another pass is due (as soon as the pacing allows). */
  | { kind: 'done'; again: boolean }
  /** Failed: retried after the back-off for `error`, or after `retryMs` when the writer says. */
  | { kind: 'failed'; error: unknown; retryMs?: number };

export interface PacedWriterOptions {
  clock: Clock;
  /** Least time from a write to the next pass (default 1 s). */
  minIntervalMs?: number;
  /** One pass; calls wrote() as it writes. Throwing counts as `failed` with that error. */
  pass(): Promise<PassResult>;
}

export class PacedWriter {
  private running = false;
  private timer: TimerHandle | undefined;
  private lastWriteAt = -Infinity;
  private closed = false;
  private readonly backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000 });

  constructor(private readonly opts: PacedWriterOptions) {}

  /** A pass after `delayMs` at the earliest (and no sooner than the pacing allows); nothing if one is pending or running. */
  kick(delayMs = 0): void {
    if (this.running || this.timer !== undefined || this.closed) return;
    const wait = Math.max(delayMs, this.lastWriteAt + (this.opts.minIntervalMs ?? 1_000) - this.opts.clock.now());
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, Math.max(0, wait));
  }

  /** A write starts now: the next pass waits `minIntervalMs` from here. */
  wrote(): void {
    this.lastWriteAt = this.opts.clock.now();
  }

  /** Drops the pending pass, if any (a running one finishes; a new kick schedules again). */
  cancel(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** No pass after this one. */
  close(): void {
    this.closed = true;
    this.cancel();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async run(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    let result: PassResult;
    try {
      result = await this.opts.pass();
    } catch (error) {
      result = { kind: 'failed', error };
    } finally {
      this.running = false;
    }
    if (this.closed) return;
    if (result.kind === 'failed') {
      const delay = this.backoff.nextAfter(result.error);
      this.kick(result.retryMs ?? delay);
    } else if (result.kind === 'done') {
      this.backoff.reset();
      if (result.again) this.kick(0);
    }
  }
}
