// Leader election on a coordination.k8s.io Lease (client-go's scheme, driven by a watch instead of
// polling). The leader renews every `retryMs` and steps down on its own once it has not renewed
// for `renewDeadlineMs`, before its Lease (`durationMs`) can expire, so two replicas never write at
// once. A standby does not poll: it is told of every version of the Lease as the watch delivers it
// (observe()), times that version's expiry on its local monotonic clock from the moment it first
// saw it (renewTime is another host's wall clock: never subtracted), and tries to acquire right
// when it expires. A missed watch event only delays a takeover; the lock re-checks expiry itself.
import type { V1Lease } from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../kube/clock.js';
import type { LeaseOutcome } from '../kube/lease.js';
import { systemClock as monotonicClock } from '../protocols/clock.js';

/** The part of LeaseLock leader election needs (a fake in unit tests). */
export interface Lock {
  acquireOrRenew(): Promise<LeaseOutcome>;
  release(): Promise<boolean>;
  /** A version of the Lease seen by the watch: the lock's own expiry check counts from its first sighting too. */
  observe?(lease: V1Lease): unknown;
}

export interface LeaderOptions {
  lock: Lock;
  /** This replica's holderIdentity. */
  identity: string;
  durationMs: number;
  /** Step down when not renewed for this long; must be below durationMs. Default 2/3 of it. */
  renewDeadlineMs?: number;
  /** Renew period of the leader, and retry period after a failed attempt. Default durationMs / 7.5 (2 s for 15 s, as client-go). */
  retryMs?: number;
  /** A standby tries this long after an observed Lease's expiry (the lock's check must agree by then). Default 25 ms. */
  expiryMarginMs?: number;
  /** Monotonic time and timers (default performance.now()). */
  clock?: Clock;
  /** `took`: whose Lease was taken over, and how long after its last renewal was seen (absent for a free or own Lease). */
  onStartedLeading: (took?: Takeover) => void;
  onStoppedLeading: (why: string) => void;
  /** A failed acquire/renew (API error); the election goes on. */
  onError?: (err: unknown) => void;
  /** Another identity holds the Lease (reported on change only). */
  onLeaderObserved?: (holder: string) => void;
}

export type LeaderState = { kind: 'standby' } | { kind: 'leading'; renewedAt: number } | { kind: 'stopped' };

/** The Lease as last seen: its version, holder and duration, and when (local monotonic) that version was first seen. */
export interface Sighting {
  version: string;
  holder: string;
  durationMs: number;
  at: number;
}

export interface Takeover {
  holder: string;
  /** Milliseconds (local monotonic) between first seeing the holder's last renewal and holding the Lease. */
  sinceSeenMs: number;
}

/** What the next attempt is scheduled after. */
type After = 'attempt' | 'failedAttempt' | 'observed';

export class LeaderElector {
  private state: LeaderState = { kind: 'standby' };
  private seen: Sighting | undefined;
  private started = false;
  private timer: TimerHandle | undefined;
  /** Fires at the renew deadline even while an attempt hangs (an unreachable API server). */
  private deadline: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  private lastHolder: string | undefined;
  private readonly clock: Clock;
  readonly renewDeadlineMs: number;
  readonly retryMs: number;
  readonly expiryMarginMs: number;

  constructor(private readonly opts: LeaderOptions) {
    this.clock = opts.clock ?? monotonicClock;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((opts.durationMs * 2) / 3);
    this.retryMs = opts.retryMs ?? Math.max(50, Math.floor(opts.durationMs / 7.5));
    this.expiryMarginMs = opts.expiryMarginMs ?? 25;
    if (this.renewDeadlineMs >= opts.durationMs) throw new RangeError('leader election: renew deadline must be shorter than the lease duration');
  }

  get leading(): boolean {
    return this.state.kind === 'leading';
  }

  get current(): LeaderState {
    return this.state;
  }

  /** The Lease version last seen (from the watch or an attempt). */
  get sighting(): Sighting | undefined {
    return this.seen;
  }

  start(): void {
    if (this.state.kind === 'stopped' || this.started) return;
    this.started = true;
    this.tick();
  }

  /**
   * A version of the Lease from the watch (undefined: deleted). A new version restarts the
   * standby's expiry timer; a free or deleted Lease is tried at once; another holder showing up
   * makes a leader step down at once.
   */
  observe(lease: V1Lease | undefined): void {
    if (this.state.kind === 'stopped') return;
    if (lease) this.opts.lock.observe?.(lease);
    if (!this.see(lease)) return;
    const holder = this.seen?.holder ?? '';
    if (holder !== '' && holder !== this.opts.identity) {
      this.reportHolder(holder);
      if (this.state.kind === 'leading') this.stepDown(`the Lease is held by ${holder}`);
    }
    if (this.started && this.state.kind === 'standby') this.schedule('observed');
  }

  /** Records a sighting; true if it is a new version (or the Lease disappeared). */
  private see(lease: V1Lease | undefined): boolean {
    if (!lease) {
      const had = this.seen !== undefined;
      this.seen = undefined;
      return had;
    }
    // resourceVersion changes on every write; renewTime is a fallback for objects without one.
    const version = lease.metadata?.resourceVersion || `renew:${String(lease.spec?.renewTime)}`;
    if (this.seen?.version === version) return false;
    const seconds = lease.spec?.leaseDurationSeconds;
    this.seen = {
      version,
      holder: lease.spec?.holderIdentity ?? '',
      durationMs: seconds !== undefined && seconds > 0 ? seconds * 1000 : this.opts.durationMs,
      at: this.clock.now(),
    };
    return true;
  }

  private reportHolder(holder: string): void {
    if (holder === this.lastHolder) return;
    this.lastHolder = holder;
    this.opts.onLeaderObserved?.(holder);
  }

  /** One acquire/renew attempt; false when it failed (API error or write conflict). Exposed for tests. */
  async attempt(): Promise<boolean> {
    // The sighting this attempt acts on (the watch may deliver our own write before the response does).
    const prev = this.seen;
    let outcome: LeaseOutcome | undefined;
    try {
      outcome = await this.opts.lock.acquireOrRenew();
    } catch (err) {
      this.opts.onError?.(err);
    }
    if (this.state.kind === 'stopped') return true;
    if (outcome?.kind === 'held') {
      this.see(outcome.lease);
      const wasLeading = this.state.kind === 'leading';
      this.state = { kind: 'leading', renewedAt: this.clock.now() };
      this.armDeadline();
      if (!wasLeading) {
        this.lastHolder = undefined;
        const other = prev !== undefined && prev.holder !== '' && prev.holder !== this.opts.identity;
        this.opts.onStartedLeading(other ? { holder: prev.holder, sinceSeenMs: Math.round(this.clock.now() - prev.at) } : undefined);
      }
      return true;
    }
    if (outcome?.kind === 'taken') {
      this.see(outcome.lease);
      this.reportHolder(outcome.holder);
      if (this.state.kind === 'leading') this.stepDown(`the Lease is held by ${outcome.holder}`);
      return true;
    }
    // Conflict or error: a leader keeps leading until its renew deadline passes.
    this.checkDeadline();
    return false;
  }

  /**
   * Milliseconds until the next attempt. Leader: the renew period. Standby: when the Lease last
   * seen expires (plus the margin); at once if it is free, gone or already expired, except right
   * after an attempt that found it otherwise (the lock judged it live: retry period, no hot loop).
   */
  private delay(after: After): number {
    if (this.state.kind === 'leading' || after === 'failedAttempt') return this.retryMs;
    const s = this.seen;
    const soon = after === 'attempt' ? this.retryMs : 0;
    if (s === undefined || s.holder === '') return soon;
    if (s.holder === this.opts.identity) return this.retryMs; // ours from an earlier term: renewable at any time
    const left = s.at + s.durationMs + this.expiryMarginMs - this.clock.now();
    return left > 0 ? left : soon;
  }

  private schedule(after: After): void {
    // An attempt in flight schedules the next one when it ends.
    if (this.state.kind === 'stopped' || this.inFlight) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, this.delay(after));
  }

  private tick(): void {
    if (this.state.kind === 'stopped' || this.inFlight) return;
    let ok = true;
    this.inFlight = this.attempt()
      .then((r) => void (ok = r))
      .finally(() => {
        this.inFlight = undefined;
        this.schedule(ok ? 'attempt' : 'failedAttempt');
      });
  }

  private checkDeadline(): void {
    if (this.state.kind !== 'leading') return;
    const since = this.clock.now() - this.state.renewedAt;
    if (since >= this.renewDeadlineMs) this.stepDown(`not renewed for ${Math.round(since)} ms (renew deadline ${this.renewDeadlineMs} ms)`);
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

  /** Stops electing; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    const wasLeading = this.state.kind === 'leading';
    this.state = { kind: 'stopped' };
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.deadline !== undefined) this.clock.clearTimeout(this.deadline);
    this.timer = undefined;
    this.deadline = undefined;
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
