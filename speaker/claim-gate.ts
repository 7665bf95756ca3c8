// When this speaker may claim layer2 Services again after a cut. Cut off (fenced, or declared dead
// by the liveness protocol), its watches of the ServiceL2Status objects and of the speaker Leases
// stop; back in contact they resume from where they stopped and deliver what happened meanwhile
// only later. Deciding on that view, a returning owner does not yet see the object of the node that
// took its Services over (`herald.io/took-over-from`) and claims them back by the hash: a flap back
// (seen once in CI, test/cluster/speaker.test.ts). So from the cut until a list of both kinds,
// requested after the reconnection, is applied, it claims no layer2 Service it does not announce
// already (the rule is in layer2Decision: 'viewStale'; this file only says when claims are gated).
//
// Bounded: the lists are retried with the informers' back-off and end the gate as soon as they
// succeed (when every speaker was cut, e.g. an API server outage, each one's outage grows by one list
// round trip); without the holders view (CRDs not installed, RBAC) there is nothing to wait for; and
// a list that keeps failing while the Lease renews opens the gate after `maxMs`, deciding on the view
// as it is (the behaviour without the gate), said in a warning.
import type { Clock, TimerHandle } from '../protocols/clock.js';

/**
 * What cut this speaker off: a fence (no Lease renewal within the duration), the liveness verdict of
 * its peers, or a renewal read after the fencing deadline (speaker/fencing.ts onLate: not fenced, but
 * the others may have expired its Lease before the server wrote it).
 */
export type CutReason = 'fenced' | 'declaredDead' | 'renewedLate';

export type ClaimGateState =
  /** Claims decided by the view as it is. */
  | { kind: 'open' }
  /** Cut off since `since`: the view may be getting older. */
  | { kind: 'cut'; reason: CutReason; since: number }
  /** Back in contact at `reconnectedAt`: waiting for the lists numbered `request` (requested after it). */
  | { kind: 'listing'; reason: CutReason; since: number; reconnectedAt: number; request: number }
  /** No holders view to wait for (the ServiceL2Status kind is not served or not readable). */
  | { kind: 'unavailable' };

/** How the gate last changed (for the log and metrics). */
export type ClaimGateChange =
  | { to: 'cut'; reason: CutReason }
  | { to: 'listing'; reason: CutReason; request: number }
  /** Opened: `gatedMs` since the reconnection, `cutMs` since the cut; `timedOut`: the lists had not succeeded within maxMs. */
  | { to: 'open'; reason: CutReason; gatedMs: number; cutMs: number; timedOut: boolean }
  | { to: 'unavailable' };

export interface ClaimGateOptions {
  clock: Clock;
  /** The longest claims stay gated after the reconnection when the lists keep failing (default 30 s). */
  maxMs?: number;
}

export const CLAIM_GATE_MAX_MS = 30_000;

export class ClaimGate {
  private current: ClaimGateState = { kind: 'open' };
  private requests = 0;
  private timer: TimerHandle | undefined;
  private readonly listeners: ((change: ClaimGateChange) => void)[] = [];
  private readonly maxMs: number;

  constructor(private readonly opts: ClaimGateOptions) {
    this.maxMs = opts.maxMs ?? CLAIM_GATE_MAX_MS;
  }

  get state(): ClaimGateState {
    return this.current;
  }

  /** True while this speaker must claim no layer2 Service it does not announce already. */
  get gated(): boolean {
    return this.current.kind === 'cut' || this.current.kind === 'listing';
  }

  onChange(fn: (change: ClaimGateChange) => void): void {
    this.listeners.push(fn);
  }

  /** Cut off (a new life begins): gated until lists requested after the next reconnection are applied. */
  cut(reason: CutReason): void {
    const s = this.current;
    if (s.kind === 'unavailable') return;
    this.stopTimer();
    // A second cut before the lists came back: the view is as old as the first one.
    const since = s.kind === 'open' ? this.opts.clock.now() : s.since;
    this.current = { kind: 'cut', reason, since };
    if (s.kind !== 'cut' || s.reason !== reason) this.emit({ to: 'cut', reason });
  }

  /**
   * Back in contact: returns the number of the lists to request now (pass it to listed() once they
   * are applied), or undefined when claims are not gated. A later reconnection supersedes it.
   */
  reconnected(): number | undefined {
    const s = this.current;
    if (s.kind !== 'cut' && s.kind !== 'listing') return undefined;
    this.stopTimer();
    const request = ++this.requests;
    this.current = { kind: 'listing', reason: s.reason, since: s.since, reconnectedAt: this.opts.clock.now(), request };
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.open(request, true);
    }, this.maxMs);
    this.emit({ to: 'listing', reason: s.reason, request });
    return request;
  }

  /** The lists numbered `request` are applied: claims open, unless a cut or reconnection came since. */
  listed(request: number): void {
    this.open(request, false);
  }

  /** The holders view is gone for good (kind not served or not readable): nothing to wait for. */
  unavailable(): void {
    if (this.current.kind === 'unavailable') return;
    this.stopTimer();
    this.current = { kind: 'unavailable' };
    this.emit({ to: 'unavailable' });
  }

  close(): void {
    this.stopTimer();
  }

  private open(request: number, timedOut: boolean): void {
    const s = this.current;
    if (s.kind !== 'listing' || s.request !== request) return;
    this.stopTimer();
    const now = this.opts.clock.now();
    this.current = { kind: 'open' };
    this.emit({ to: 'open', reason: s.reason, gatedMs: now - s.reconnectedAt, cutMs: now - s.since, timedOut });
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private emit(change: ClaimGateChange): void {
    for (const fn of this.listeners) fn(change);
  }
}
