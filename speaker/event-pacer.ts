// Paces the speaker's Service Events so that they never cost availability. A restarted speaker
// becomes the layer2 owner of thousands of Services at once and writes one nodeAssigned Event each;
// unpaced, that opened thousands of API connections, and even at 100/s on a loaded 2-core node the
// Event POSTs slowed every speaker's Lease renewals until speakers fenced themselves (silencing their
// VIPs for an informational message). So:
// - a token bucket: `ratePerSecond` in the long run, at most `burst` at once;
// - paused while the speaker's own Lease renewal is unhealthy (SpeakerLease's health signal): the
//   Lease always goes first, Events resume once renewals are fast again;
// - nothing is dropped: the queue holds at most one pending Event per key (Service and reason); a
//   newer Event for the same key replaces the pending one in its place in line (the newest state
//   wins), so the queue is bounded by the number of Services.
// - pending items are data handed to one `send` function, not a closure each: after a restart the
//   queue holds one per owned Service for N/20 s, and a closure with its context cost ~300 bytes more
//   per pending Event (heap snapshot at 10,000 Services).
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface EventPacerOptions<T> {
  clock: Clock;
  /** Hands one pending item on (one recorder call, one API write). */
  send: (item: T) => void;
  /**
   * Events handed on per second in the long run. Default 20: a restart with N owned Services still
   * writes all N Events, N/20 s later at most (3,334 Services: under 3 minutes), at a fifth of the
   * cost to the API server of the former 100/s.
   */
  ratePerSecond?: number;
  /** Events that may go at once after a quiet spell. Default 10 (client-go's default burst). */
  burst?: number;
  /** Start paused (until the first healthy Lease renewal). Default false. */
  paused?: boolean;
}

export class EventPacerError extends Error {
  override readonly name = 'EventPacerError';
}

export class EventPacer<T> {
  /** Pending items by key; Map order is line order, and set() on a pending key keeps its place. */
  private readonly queue = new Map<string, T>();
  private timer: TimerHandle | undefined;
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private refilledAt: number;
  private paused: boolean;
  private closed = false;
  /** Events handed on so far. */
  sent = 0;
  /** Pending Events replaced by a newer one for the same key. */
  coalesced = 0;

  constructor(private readonly opts: EventPacerOptions<T>) {
    this.rate = opts.ratePerSecond ?? 20;
    this.burst = opts.burst ?? 10;
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) throw new EventPacerError(`ratePerSecond: must be a positive number, got ${this.rate}`);
    if (!(this.burst >= 1) || !Number.isFinite(this.burst)) throw new EventPacerError(`burst: must be at least 1, got ${this.burst}`);
    this.tokens = this.burst;
    this.refilledAt = opts.clock.now();
    this.paused = opts.paused ?? false;
  }

  get queued(): number {
    return this.queue.size;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Queue `item` under `key`, replacing a pending one of the same key. */
  push(key: string, item: T): void {
    if (this.closed) return;
    if (this.queue.has(key)) this.coalesced++;
    this.queue.set(key, item);
    this.drain();
  }

  /** Hold Events back (true) or let them go again (false). */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (paused) this.cancelTimer();
    else this.drain();
  }

  close(): void {
    this.closed = true;
    this.cancelTimer();
    this.queue.clear();
  }

  private cancelTimer(): void {
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const now = this.opts.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  private drain(): void {
    if (this.paused || this.timer || this.closed) return;
    this.refill();
    while (this.tokens >= 1 && this.queue.size > 0 && !this.paused) {
      const [key, item] = this.queue.entries().next().value as [string, T];
      this.queue.delete(key);
      this.tokens -= 1;
      this.sent++;
      this.opts.send(item);
    }
    if (this.queue.size === 0 || this.paused || this.closed) return;
    // Wake when the next token is due.
    this.timer = this.opts.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.ceil(((1 - this.tokens) * 1000) / this.rate),
    );
  }
}
