// A manual clock for the speaker tests (protocols/clock.ts's ManualClock had not landed when these
// were written): time moves only on advance(); due timers fire in due order with now() at their due time.
import type { Clock, TimerHandle } from '../../../speaker/clock.js';

interface Timer {
  seq: number;
  due: number;
  fn: () => void;
}

export class TestClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 1000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: Timer = { seq: this.seq++, due: this.current + Math.max(0, ms), fn };
    this.timers.push(t);
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers) if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = next.due;
      next.fn();
    }
    this.current = end;
  }
}
