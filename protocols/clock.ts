// An injectable clock: protocol timers read time and schedule through this, so tests can drive
// them with ManualClock instead of sleeping.

/** Opaque handle returned by Clock.setTimeout. */
export type TimerHandle = object;

export interface Clock {
  /** Monotonic milliseconds (not wall time). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Runs `fn` once the I/O already received has been handled. A timer due while the event loop was
   * blocked fires before the socket data that arrived meanwhile is read (libuv runs timers before
   * polling): a deadline that an answer already in the socket would meet must wait for it. Without
   * it (ManualClock: no I/O), `fn` runs at once.
   */
  afterIo?(fn: () => void): void;
}

/** The real clock: performance.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  // Timers stay ref'd: a speaker waiting out a reconnect back-off has nothing else keeping it alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  // setImmediate runs in the check phase, after the poll phase that reads the sockets.
  afterIo: (fn) => void setImmediate(fn),
};

interface ManualTimer {
  readonly seq: number;
  readonly due: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** A clock for tests: time moves only when advance() is called; due timers fire in due-time order. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { seq: this.seq++, due: this.current + Math.max(0, ms), fn, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.cancelled = true;
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Number of timers scheduled and not yet fired or cleared. */
  pending(): number {
    return this.timers.length;
  }

  /** Milliseconds until the next timer is due, or undefined when none is scheduled. */
  nextDue(): number | undefined {
    if (this.timers.length === 0) return undefined;
    return Math.min(...this.timers.map((t) => t.due)) - this.current;
  }

  /**
   * Move time forward by ms, firing every timer that falls due on the way (also ones scheduled
   * by a firing timer), each with now() equal to its due time.
   */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.due);
      next.fn();
    }
    this.current = end;
  }
}
