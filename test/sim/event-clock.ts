// Virtual time for the scale simulator's liveness part: a Clock (protocols/clock.ts) whose timers sit
// in a binary heap and fire in due-time order when run() is called, with now() jumping to each due
// time. ManualClock does the same with a linear scan, fine for a unit test's dozen timers but not
// for 1,000 members' tens of thousands.
import type { Clock, TimerHandle } from '../../protocols/clock.js';

interface Entry {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class EventClock implements Clock {
  private current = 0;
  private seq = 0;
  private readonly heap: Entry[] = [];
  /** Timers fired so far (the simulation's work). */
  fired = 0;

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const e: Entry = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(e);
    return e;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as Entry).cancelled = true;
  }

  /** Fires every timer due up to `until` (also ones scheduled meanwhile), then sets now() to it. */
  runUntil(until: number, stop: () => boolean = () => false): void {
    while (this.heap.length > 0 && (this.heap[0] as Entry).due <= until) {
      const e = this.pop();
      if (e.cancelled) continue;
      this.current = Math.max(this.current, e.due);
      this.fired++;
      e.fn();
      if (stop()) return;
    }
    this.current = Math.max(this.current, until);
  }

  private less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i] as Entry, h[p] as Entry)) break;
      [h[i], h[p]] = [h[p] as Entry, h[i] as Entry];
      i = p;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0] as Entry;
    const last = h.pop() as Entry;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as Entry, h[m] as Entry)) m = l;
        if (r < h.length && this.less(h[r] as Entry, h[m] as Entry)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
        i = m;
      }
    }
    return top;
  }
}
