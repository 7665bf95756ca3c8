// Events wait behind status writes. An Event costs the API server as much as a status write, and
// at start-up with thousands of Services both compete for it: the addresses are what users wait
// for, the Events only describe them. So Events are queued here (in order, none dropped) and handed
// to the recorder at a bounded rate: a trickle while status writes are waiting, more once they are
// done. The bound also keeps a backlog of thousands from becoming thousands of concurrent requests.
import type { Clock, TimerHandle } from '../kube/clock.js';

export interface EventLaneOptions {
  clock: Clock;
  /** True while status writes are waiting (the work queue has ready keys). */
  busy: () => boolean;
  /** Events handed on per tick while not busy. Default 20 (400/s at 50 ms). */
  idlePerTick?: number;
  /** Events handed on per tick while busy, so none starve. Default 1 (20/s at 50 ms). */
  busyPerTick?: number;
  /** Default 50 ms. */
  tickMs?: number;
}

export class EventLane {
  private queue: (() => void)[] = [];
  private head = 0;
  private timer: TimerHandle | undefined;
  private lastTick = -Infinity;
  private closed = false;
  readonly idlePerTick: number;
  readonly busyPerTick: number;
  readonly tickMs: number;

  constructor(private readonly opts: EventLaneOptions) {
    this.idlePerTick = opts.idlePerTick ?? 20;
    this.busyPerTick = opts.busyPerTick ?? 1;
    this.tickMs = opts.tickMs ?? 50;
    if (this.idlePerTick < 1 || this.busyPerTick < 1 || this.tickMs <= 0) throw new RangeError('event lane: per-tick counts must be >= 1 and the tick > 0 ms');
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Queues one recorder call; it runs on the next tick its turn comes (at once when nothing waits). */
  push(emit: () => void): void {
    if (this.closed) return;
    this.queue.push(emit);
    this.schedule();
  }

  /** Runs up to `max` queued calls now (shutdown: what fits the time left), stops the timer if empty; returns how many ran. */
  drain(max = Infinity): number {
    let n = 0;
    while (n < max && this.head < this.queue.length) {
      const emit = this.queue[this.head];
      this.queue[this.head++] = noop; // let the closure go
      n++;
      emit();
    }
    this.compact();
    if (this.queued === 0 && this.timer !== undefined) {
      this.opts.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    return n;
  }

  /** Stops the timer and forgets what is queued; returns how many calls were never made. */
  close(): number {
    this.closed = true;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.queued;
    this.queue = [];
    this.head = 0;
    return left;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queued === 0 || this.closed) return;
    // Not sooner than one tick after the last, so the rate holds across idle gaps too.
    const wait = Math.max(0, this.lastTick + this.tickMs - this.opts.clock.now());
    this.timer = this.opts.clock.setTimeout(() => this.tick(), wait);
  }

  private tick(): void {
    this.timer = undefined;
    this.lastTick = this.opts.clock.now();
    this.drain(this.opts.busy() ? this.busyPerTick : this.idlePerTick);
    this.schedule();
  }

  private compact(): void {
    // Drop the consumed prefix now and then instead of shifting on every call.
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

const noop = (): void => undefined;
