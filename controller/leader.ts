// Leader election on a coordination.k8s.io Lease (client-go's scheme): try to acquire or renew
// every `retryMs`; the leader that fails to renew for `renewDeadlineMs` steps down on its own, before
// its Lease (`durationMs`) can expire, so two replicas never write at once. A standby takes over
// once it has seen the Lease unrenewed for a whole duration (judged on its own clock, kube/lease.ts).
import type { LeaseOutcome } from '../kube/lease.js';
import { systemClock, type Clock, type TimerHandle } from '../kube/clock.js';

/** The part of LeaseLock leader election needs (a fake in unit tests). */
export interface Lock {
  acquireOrRenew(): Promise<LeaseOutcome>;
  release(): Promise<boolean>;
}

export interface LeaderOptions {
  lock: Lock;
  durationMs: number;
  /** Step down when not renewed for this long; must be below durationMs. Default 2/3 of it. */
  renewDeadlineMs?: number;
  /** Attempt period. Default durationMs / 7.5 (2 s for 15 s, as client-go). */
  retryMs?: number;
  clock?: Clock;
  onStartedLeading: () => void;
  onStoppedLeading: (why: string) => void;
  /** A failed acquire/renew (API error); the election goes on. */
  onError?: (err: unknown) => void;
  /** Another identity holds the Lease (reported on change only). */
  onLeaderObserved?: (holder: string) => void;
}

export type LeaderState = { kind: 'standby' } | { kind: 'leading'; renewedAt: number } | { kind: 'stopped' };

export class LeaderElector {
  private state: LeaderState = { kind: 'standby' };
  private timer: TimerHandle | undefined;
  /** Fires at the renew deadline even while an attempt hangs (an unreachable API server). */
  private deadline: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  private lastHolder: string | undefined;
  private readonly clock: Clock;
  readonly renewDeadlineMs: number;
  readonly retryMs: number;

  constructor(private readonly opts: LeaderOptions) {
    this.clock = opts.clock ?? systemClock;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((opts.durationMs * 2) / 3);
    this.retryMs = opts.retryMs ?? Math.max(50, Math.floor(opts.durationMs / 7.5));
    if (this.renewDeadlineMs >= opts.durationMs) throw new RangeError('leader election: renew deadline must be shorter than the lease duration');
  }

  get leading(): boolean {
    return this.state.kind === 'leading';
  }

  get current(): LeaderState {
    return this.state;
  }

  start(): void {
    if (this.state.kind === 'stopped') return;
    this.tick();
  }

  /** One attempt (exposed for tests driving a fake clock). */
  async attempt(): Promise<void> {
    let outcome: LeaseOutcome | undefined;
    try {
      outcome = await this.opts.lock.acquireOrRenew();
    } catch (err) {
      this.opts.onError?.(err);
    }
    if (this.state.kind === 'stopped') return;
    const now = this.clock.now();
    if (outcome?.kind === 'held') {
      const wasLeading = this.state.kind === 'leading';
      this.state = { kind: 'leading', renewedAt: now };
      this.armDeadline();
      if (!wasLeading) {
        this.lastHolder = undefined;
        this.opts.onStartedLeading();
      }
      return;
    }
    if (outcome?.kind === 'taken') {
      if (outcome.holder !== this.lastHolder) {
        this.lastHolder = outcome.holder;
        this.opts.onLeaderObserved?.(outcome.holder);
      }
      if (this.state.kind === 'leading') this.stepDown(`the Lease is held by ${outcome.holder}`);
      return;
    }
    // Conflict or error: a leader keeps leading until its renew deadline passes.
    this.checkDeadline();
  }

  private checkDeadline(): void {
    if (this.state.kind !== 'leading') return;
    const since = this.clock.now() - this.state.renewedAt;
    if (since >= this.renewDeadlineMs) this.stepDown(`not renewed for ${since} ms (renew deadline ${this.renewDeadlineMs} ms)`);
  }

  private armDeadline(): void {
    if (this.deadline !== undefined) this.clock.clearTimeout(this.deadline);
    this.deadline = this.clock.setTimeout(() => {
      this.deadline = undefined;
      this.checkDeadline();
    }, this.renewDeadlineMs);
  }

  private stepDown(why: string): void {
    this.state = { kind: 'standby' };
    if (this.deadline !== undefined) this.clock.clearTimeout(this.deadline);
    this.deadline = undefined;
    this.opts.onStoppedLeading(why);
  }

  private tick(): void {
    this.inFlight = this.attempt().finally(() => {
      this.inFlight = undefined;
      if (this.state.kind !== 'stopped') this.timer = this.clock.setTimeout(() => this.tick(), this.retryMs);
    });
  }

  /** Stops electing; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    const wasLeading = this.state.kind === 'leading';
    this.state = { kind: 'stopped' };
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.deadline !== undefined) this.clock.clearTimeout(this.deadline);
    await this.inFlight;
    if (wasLeading) {
      this.opts.onStoppedLeading('shutting down');
      try {
        await this.opts.lock.release();
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }
}
