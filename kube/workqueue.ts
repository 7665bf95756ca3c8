// The controller work queue (client-go's workqueue semantics): keys, not events, so a burst of
// changes to one object is reconciled once against its latest state; a key is never processed by
// two workers at once (re-added while in flight, it is queued again when done); failed keys come
// back after a per-key exponential delay, bounded overall by a token bucket.
import { backoffDelay } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export interface WorkQueueOptions {
  clock?: Clock;
  /** Per-key retry delay: first, ceiling (ms). Default 5 ms .. 1000 s, as client-go. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Overall retry rate (token bucket): tokens per second and burst. Default 10 qps, burst 100. */
  qps?: number;
  burst?: number;
}

export class WorkQueue {
  /**
   * Keys ready, in order, from `head` on. Not Array.shift(): a backing store that large (100,000 keys
   * queued at a restart) lives in V8's large-object space, where shift() moves every element: the
   * restart's reconcile pass was quadratic (8.8 s of 10 s CPU at 100,000 Services).
   */
  private queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly clock: Clock;
  private tokens: number;
  private lastRefill: number;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.tokens = opts.burst ?? 100;
    this.lastRefill = this.clock.now();
  }

  /** Queues `key` unless it is already queued. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    this.push(key);
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
    } else this.queue.push(key);
  }

  /** Queues `key` after `ms` (the earliest pending time wins if it is already waiting). */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Delay the next retry of `key` would get, and counts the failure. */
  private retryDelay(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = backoffDelay(n, { initialMs: this.opts.retryInitialMs ?? 5, maxMs: this.opts.retryMaxMs ?? 1_000_000, jitter: 0 });
    // Token bucket: each retry takes a token; without one, wait for the next refill.
    const qps = this.opts.qps ?? 10;
    const burst = this.opts.burst ?? 100;
    const now = this.clock.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * qps);
    this.lastRefill = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / qps) * 1000);
    return Math.max(perKey, bucket);
  }

  /** Re-queues a failed key after its exponential per-key delay. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.retryDelay(key));
  }

  /** Clears the failure history of `key` (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times `key` failed since the last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process (marked in flight until done()), or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  private shift(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++];
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      // Drop the consumed half: amortized O(1) per key, and memory bounded by twice what is queued.
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  /** Marks `key` finished; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
  }

  /** Keys ready to be processed (not counting in-flight or delayed ones). */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Keys waiting for a delayed add. */
  get delayed(): number {
    return this.waiting.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) this.clock.clearTimeout(timer);
    this.waiting.clear();
    for (const g of this.getters.splice(0)) g(undefined);
  }

  /**
   * Runs `reconcile` on keys with `concurrency` workers until shutDown(). Success forgets the key's
   * failures; a throw re-queues it rate-limited and reports the error.
   */
  async run(reconcile: (key: string) => Promise<void>, opts: { concurrency?: number; onError?: (key: string, err: unknown) => void } = {}): Promise<void> {
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          await reconcile(key);
          this.forget(key);
        } catch (err) {
          opts.onError?.(key, err);
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 1 }, worker));
  }
}
