// Paces the speaker's Events. A speaker that starts next to 10,000 Services becomes the owner of
// thousands at once; writing one Event each at once opened thousands of concurrent API connections
// (the recorder does not bound them) and grew the process to a gigabyte. Events are queued and
// handed to the recorder at a bounded rate; when the queue is full the oldest are dropped (Events
// are best effort; the log line of each change is written regardless).
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface EventPacerOptions {
  clock: Clock;
  /** Events handed on per tick. Default 10. */
  perTick?: number;
  /** Milliseconds between ticks. Default 100 (so 100 Events/s). */
  tickMs?: number;
  /** Queue bound. Default 20,000. */
  maxQueued?: number;
}

export class EventPacer {
  private readonly queue: (() => void)[] = [];
  private head = 0;
  private timer: TimerHandle | undefined;
  private readonly perTick: number;
  private readonly tickMs: number;
  private readonly maxQueued: number;
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly opts: EventPacerOptions) {
    this.perTick = opts.perTick ?? 10;
    this.tickMs = opts.tickMs ?? 100;
    this.maxQueued = opts.maxQueued ?? 20_000;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Queue `emit` (one recorder call); it runs within queued/perTick ticks. */
  push(emit: () => void): void {
    if (this.queued >= this.maxQueued) {
      this.head++;
      this.dropped++;
    }
    this.queue.push(emit);
    if (!this.timer) this.tick();
  }

  close(): void {
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
  }

  private tick(): void {
    this.timer = undefined;
    let ran = 0;
    for (; ran < this.perTick && this.head < this.queue.length; ran++) this.queue[this.head++]();
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      // Idle only after a tick with nothing to do: Events pushed right after a busy tick wait for the next one.
      if (ran === 0) return;
    }
    // Compact now and then so a long burst does not keep consumed entries alive.
    if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.timer = this.opts.clock.setTimeout(() => this.tick(), this.tickMs);
  }
}
