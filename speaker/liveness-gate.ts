// How the speaker combines the Lease (the authority for membership and self-fencing) with the
// liveness protocol's verdicts (protocols/liveness/swim.ts, fast): one rule, one place.
//
// Ownership: a speaker counts for layer2 ownership while its Lease is live (membership.ts) and the
// liveness protocol has not declared it dead since. A verdict stands until the node's Lease shows
// a new life (a new acquireTime: the process restarted, or started a new life on learning it was
// declared dead) or until two Lease changes are observed after it: a dead process can have at most
// one renewal in flight when it dies, so a second one proves it alive (a node that UDP cannot reach
// but the API server can; it renews fast while it has no quorum, so this bounds the overlap).
//
// Fencing: a speaker that lost the liveness quorum (it reaches too few peers) stops answering at
// once, and answers again when the quorum is back, or when a Lease renewal *sent after* the loss
// succeeded (the API server vouches for it: it is the survivor of a failure, not cut off) and its
// peers, asked at that moment (swim.ts recheck: the stall check), answered without a verdict on it
// or could not answer within periodMs + suspicionMs.
//
// This speaker itself: told it was declared dead, it stops answering at once (before its next
// decisions withdraw the VIPs) until its Lease shows its new life; and it does not answer while the
// liveness protocol says it stalled (swim.ts: resumed after a freeze, before a peer answered it).
// Both are read when asked, not cached: after a freeze the answer path runs before any timer.
//
// Joining: a speaker whose Lease (or new life) appeared while this one ran, and that the liveness
// protocol has not heard from yet (swim.ts, joining), counts for no ownership either: no VIP moves
// to a node that does not answer yet. The state machine decides it; this only excludes, and ends the
// exclusion as a verdict's on two Lease changes observed since (a node the API server hears but UDP
// does not reach renews fast without quorum: it would otherwise stay excluded while it answers).
import type { Clock } from '../protocols/clock.js';

interface Verdict {
  at: number;
  /** Lease changes observed since the verdict. */
  changes: number;
  joinedAt: number | undefined;
}

export class LivenessGate {
  private readonly verdicts = new Map<string, Verdict>();
  /** Joining speakers (swim.ts): not heard from since their Lease appeared; value: Lease changes observed since. */
  private readonly joiningNodes = new Map<string, number>();
  private quorumLostAt: number | undefined;
  private vouched = true;
  private excludedCache: ReadonlySet<string> | undefined;
  private ownersCache: { live: ReadonlySet<string>; ex: ReadonlySet<string>; out: ReadonlySet<string> } | undefined;

  /** Polled by isFenced(): true while stalled (the liveness protocol's awake() + stalled). */
  private stalled: () => boolean = () => false;

  constructor(
    private readonly clock: Clock,
    private readonly self = '',
  ) {}

  /** How to ask whether this speaker stalled (swim.ts); polled on every isFenced(). */
  setStallCheck(stalled: () => boolean): void {
    this.stalled = stalled;
  }

  /** The liveness protocol declared `node` dead; `joinedAt` is its life's acquireTime as last seen. False: already. */
  declaredDead(node: string, joinedAt: number | undefined): boolean {
    if (this.verdicts.has(node)) return false;
    this.verdicts.set(node, { at: this.clock.now(), changes: 0, joinedAt });
    this.excludedCache = undefined;
    return true;
  }

  /** A change of `node`'s Lease was observed; true when this ends a verdict (re-decide ownership). */
  leaseChanged(node: string, joinedAt: number | undefined): boolean {
    const j = this.joiningNodes.get(node);
    if (j !== undefined && j >= 1) {
      this.joiningNodes.delete(node);
      this.excludedCache = undefined;
      if (!this.verdicts.has(node)) return true;
    } else if (j !== undefined) this.joiningNodes.set(node, j + 1);
    const v = this.verdicts.get(node);
    if (!v) return false;
    v.changes++;
    if (v.changes < 2 && joinedAt === v.joinedAt) return false;
    this.verdicts.delete(node);
    this.excludedCache = undefined;
    return true;
  }

  /** `node` is joining (not heard from by the liveness protocol since it appeared) or no longer. */
  setJoining(node: string, joining: boolean): void {
    if (joining === this.joiningNodes.has(node)) return;
    if (joining) this.joiningNodes.set(node, 0);
    else this.joiningNodes.delete(node);
    this.excludedCache = undefined;
  }

  /** The node's Lease is gone (deleted or expired): its verdict has no more use. */
  forget(node: string): void {
    if (this.verdicts.delete(node)) this.excludedCache = undefined;
  }

  /** Fenced for a reason other than the stall (what the decisions see: a stall ends within a round trip). */
  isFencedByVerdict(): boolean {
    return this.verdicts.has(this.self) || !this.vouched;
  }

  /** Nodes excluded from ownership: by a standing verdict, or joining. */
  excluded(): ReadonlySet<string> {
    if (!this.excludedCache) {
      const ex = new Set(this.verdicts.keys());
      for (const n of this.joiningNodes.keys()) ex.add(n);
      this.excludedCache = ex;
    }
    return this.excludedCache;
  }

  /** The Lease-live speakers that count for ownership. */
  owners(leaseLive: ReadonlySet<string>): ReadonlySet<string> {
    const ex = this.excluded();
    if (ex.size === 0) return leaseLive;
    // Called per Service: rebuilt only when the live set or the verdicts changed.
    if (this.ownersCache?.live === leaseLive && this.ownersCache.ex === ex) return this.ownersCache.out;
    const out = new Set<string>();
    for (const n of leaseLive) if (!ex.has(n)) out.add(n);
    this.ownersCache = { live: leaseLive, ex, out };
    return out;
  }

  quorumChanged(quorum: boolean): void {
    if (quorum) {
      this.quorumLostAt = undefined;
      this.vouched = true;
    } else if (this.quorumLostAt === undefined) {
      this.quorumLostAt = this.clock.now();
      this.vouched = false;
    }
  }

  /** Whether a renewal sent at `sentAt` would vouch for this speaker now (it lost the quorum and is not vouched yet). */
  vouches(sentAt: number): boolean {
    return this.quorumLostAt !== undefined && !this.vouched && sentAt >= this.quorumLostAt;
  }

  /** A Lease renewal sent at `sentAt` (monotonic) succeeded. */
  renewed(sentAt: number): void {
    if (this.quorumLostAt !== undefined && sentAt >= this.quorumLostAt) this.vouched = true;
  }

  /**
   * Stop answering: stalled, declared dead ourselves (until our new life shows), or without quorum
   * and not vouched for by a renewal since.
   */
  isFenced(): boolean {
    return this.stalled() || this.verdicts.has(this.self) || !this.vouched;
  }

  /** Without quorum (the speaker then renews its Lease at the fast rate). */
  get quorumLost(): boolean {
    return this.quorumLostAt !== undefined;
  }
}
