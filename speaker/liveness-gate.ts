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
//
// Claims (the joiner's side of the same exclusion): a joining speaker J counts itself and its peers,
// while a peer P that has not heard J yet excludes it. For a VIP that ranks J first, P's owner is
// the owner without J; when that is P itself, both would answer until P hears J (the alive gossip:
// O(log n) periods). So a speaker claims a VIP it does not announce yet only once the node that
// would own it without this speaker (P, by the same rule: layer2-owner.ts ownerWithout) has answered
// a request of ours in our current life (swim.ts onAnswer: it received our message, so it heard
// us and counts us); the first claim that needs P asks it at once (swim.ts ask) and again every
// period while waiting. Why no VIP is left to nobody, nor to two: P counts us from the message it
// answers (its gate changes in that turn, its decisions run from the next), and we claim when the
// answer arrives: silent for about the answer's way back, with no overlap unless P's re-decision of
// all its Services (batches, turn by turn) takes longer than that way back plus ours. Bounds: a P that does not answer within the hold
// (periodMs + suspicionMs, checked every period: at most 800 ms at the defaults) is not waited for
// again in this life; the ranking then decides as without this rule: silent until then if P counted
// us (it heard us through gossip while we cannot reach it), two answerers if P has not even seen our
// Lease yet (a lagging watch), until it hears us. Answers belong to a life: declared dead or fenced
// (a new life) they are dropped, and answers are not taken while the peers hold us dead, so those
// must come after our new Lease shows; a peer whose watch shows that new life after it answered may
// still exclude us for a few periods (its watch's lag behind ours). Existing Services are not moved
// by this: a VIP this speaker announces is kept; one it does not is claimed by this rule or not at
// all (the holders and the seniority tier give a joiner no existing VIP while an older node serves).
// Costs: a set of the peers that answered (at most n), one ask per peer and life when a claim needs
// it (the round-robin's acks usually came first), one decision more per claim.
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface LivenessGateOptions {
  /** How long a claim waits for the peer it would take the VIP from (see the header, claims). Default 600 ms: periodMs + suspicionMs at the defaults. */
  claimHoldMs?: number;
  /** How often an unanswered peer is asked again while a claim waits. Default 200 ms: the default period. */
  askEveryMs?: number;
}

/** How a claim's wait for a peer ended: it answered, or the hold passed first. */
export type ClaimWaitEnd = 'answered' | 'timedOut';

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
  /** Peers that answered a request of ours in this life (swim.ts onAnswer), or that a claim stopped waiting for. */
  private readonly answeredBy = new Set<string>();
  /** Peers a claim waits for: node -> when first asked (this life). */
  private readonly awaiting = new Map<string, number>();
  private awaitTimer: TimerHandle | undefined;
  private ask: (node: string) => void = () => undefined;
  private readonly waitListeners: Array<(node: string, end: ClaimWaitEnd, waitedMs: number) => void> = [];
  private readonly claimHoldMs: number;
  private readonly askEveryMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly self = '',
    opts: LivenessGateOptions = {},
  ) {
    this.claimHoldMs = opts.claimHoldMs ?? 600;
    this.askEveryMs = opts.askEveryMs ?? 200;
  }

  /** How to ask whether this speaker stalled (swim.ts); polled on every isFenced(). */
  setStallCheck(stalled: () => boolean): void {
    this.stalled = stalled;
  }

  /** The liveness protocol declared `node` dead; `joinedAt` is its life's acquireTime as last seen. False: already. */
  declaredDead(node: string, joinedAt: number | undefined): boolean {
    if (this.verdicts.has(node)) return false;
    this.verdicts.set(node, { at: this.clock.now(), changes: 0, joinedAt });
    this.excludedCache = undefined;
    // Ourselves: the peers hold us dead, their answers so far were to our old life.
    if (node === this.self) this.newLife();
    return true;
  }

  /**
   * This speaker begins a new life (fenced, or declared dead): the peers will see it join again,
   * so the answers of its old life no longer show that they count it (see the header, claims).
   */
  newLife(): void {
    this.answeredBy.clear();
    this.awaiting.clear();
    if (this.awaitTimer !== undefined) this.clock.clearTimeout(this.awaitTimer);
    this.awaitTimer = undefined;
  }

  /** How to ask a peer for an answer (swim.ts ask): called when a claim starts waiting for it, and again every askEveryMs. */
  setAsk(ask: (node: string) => void): void {
    this.ask = ask;
  }

  /** A claim's wait for `node` ended (decide again): it answered, or the hold passed. */
  onClaimWaitEnded(listener: (node: string, end: ClaimWaitEnd, waitedMs: number) => void): void {
    this.waitListeners.push(listener);
  }

  /** `node` answered a request of ours (swim.ts onAnswer): it heard us, so it counts us. */
  answered(node: string): void {
    // Declared dead ourselves: an answer carrying that verdict (or sent before our new life shows) proves nothing.
    if (this.verdicts.has(this.self) || this.answeredBy.has(node)) return;
    this.answeredBy.add(node);
    this.endWait(node, 'answered');
  }

  /**
   * Whether this speaker may claim a VIP that `node` owns in its view without this speaker (see the
   * header, claims): once `node` answered a request of ours in this life, or the hold passed since
   * the claim began waiting for it. The first call asks `node`; false until then.
   */
  mayClaimFrom(node: string): boolean {
    if (this.answeredBy.has(node)) return true;
    if (!this.awaiting.has(node)) {
      this.awaiting.set(node, this.clock.now());
      this.ask(node);
      this.awaitTimer ??= this.clock.setTimeout(() => this.tick(), this.askEveryMs);
    }
    return false;
  }

  /** Peers a claim waits for now (metrics, tests). */
  get claimsWaiting(): number {
    return this.awaiting.size;
  }

  private tick(): void {
    this.awaitTimer = undefined;
    const now = this.clock.now();
    for (const [node, since] of [...this.awaiting]) {
      if (now - since < this.claimHoldMs) this.ask(node);
      else {
        this.answeredBy.add(node);
        this.endWait(node, 'timedOut');
      }
    }
    if (this.awaiting.size > 0) this.awaitTimer = this.clock.setTimeout(() => this.tick(), this.askEveryMs);
  }

  private endWait(node: string, end: ClaimWaitEnd): void {
    const since = this.awaiting.get(node);
    if (since === undefined) return;
    this.awaiting.delete(node);
    for (const l of [...this.waitListeners]) l(node, end, this.clock.now() - since);
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
    // Our new life shows: answers from here on are to it (any before it may predate a peer's rejoin).
    if (node === this.self) this.newLife();
    return true;
  }

  /** `node` is joining (not heard from by the liveness protocol since it appeared) or no longer. */
  setJoining(node: string, joining: boolean): void {
    if (joining === this.joiningNodes.has(node)) return;
    if (joining) this.joiningNodes.set(node, 0);
    else this.joiningNodes.delete(node);
    this.excludedCache = undefined;
  }

  /** The node's Lease is gone (deleted or expired): its verdict and its answer have no more use. */
  forget(node: string): void {
    if (this.verdicts.delete(node)) this.excludedCache = undefined;
    this.answeredBy.delete(node);
    this.awaiting.delete(node);
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
