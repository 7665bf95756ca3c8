// The set of live speakers, from the Lease renewals this speaker observes. A Lease counts as live
// while it *changed* within leaseDuration, timed on the local monotonic clock at the moment the
// change was observed: renewTime is another node's wall clock and is only compared for equality,
// never subtracted, so clock skew between nodes cannot make a speaker look alive or dead.
//
// Silence is only evidence while we can see renewals at all. A speaker cut off from the API server
// (or whose Lease watch is down) sees every peer go quiet and cannot tell that from peers dying; if
// it dropped them, it would claim their VIPs just before fencing itself (gratuitous ARP moving
// clients to a node about to go silent). Our own Lease is the control sample: it is renewed every
// renewMs and comes back through the same watch, which delivers changes in commit order, so seeing
// our own renewal means every peer renewal committed before it has been seen too. Hence:
// - judging: our own Lease was seen changing within renewMs + renewMs/2 and no renewal of ours has
//   failed since. Peers expire leaseDuration after their last observed change, as always.
// - frozen: otherwise (and from start until our Lease is first seen). A peer falling due is not
//   dropped but deferred: it stays live. Deletions still take effect (a deleted Lease is a fact).
// - back to judging when our own Lease is seen changing again; each deferred peer then gets a
//   full leaseDuration from that moment, as if first seen, to show a renewal through the now
//   current watch (after an outage its first renewal may come up to a renew interval late).
// With leaseDuration >= 2 x renew + renew/2 + watch latency (the defaults 1 s / 3 s leave 500 ms),
// we freeze before any peer last renewed before an outage falls due; renewal failures that come
// back fast (server down: connection refused) freeze us earlier still.
//
// Split Leases (liveness on, README: Scale): a Lease that advertises a heartbeat Lease changes only
// on a change of its speaker, so its silence proves nothing: such a member expires only while the
// liveness protocol's verdict stands on it (setVerdict), leaseDuration after the verdict or its
// last change since (a crashed node stays dead, a fenced one went silent on the liveness protocol
// first). Our own Lease is then no control sample either: the freeze timer runs only while some
// live Lease (ours included) is renewed periodically, i.e. while an older speaker is a member.
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface MembershipOptions {
  clock: Clock;
  /** Milliseconds a Lease stays live after its last observed change. */
  leaseDurationMs: number;
  /** This speaker's node name: its own Lease, seen changing, is the evidence that renewals are visible. */
  self: string;
  /** This speaker's renew interval, ms: our own Lease should be seen changing about this often. */
  renewMs: number;
}

/** A change of the live set: `node` became live or stopped being live. */
export interface MembershipChange {
  node: string;
  live: boolean;
  /** Why it stopped being live: its Lease was not renewed in time, or was deleted. */
  cause: 'renewed' | 'rejoined' | 'expired' | 'deleted';
}

/** Whether this speaker can judge peers' silence (see the file comment). */
export type JudgementState =
  | { kind: 'judging'; selfSeenAt: number }
  | { kind: 'frozen'; reason: FreezeReason; since: number };

/** Why peers are not judged: our Lease not seen yet, not seen changing in time, or our renewal failed. */
export type FreezeReason = 'selfNotSeen' | 'selfOverdue' | 'renewFailed';

/** A transition of the judgement state; on resuming, the peers that fell due while frozen. */
export interface JudgementChange {
  state: JudgementState;
  /** Peers whose expiry was deferred while frozen (on resume: they now get a fresh lease duration). */
  deferred: string[];
}

interface Member {
  /** The last version seen (renewTime string or resourceVersion): only compared for equality. */
  version: string;
  /** Local monotonic time the version last changed. */
  changedAt: number;
  live: boolean;
  /** Fell due while frozen: still live, waiting for judging to resume. */
  deferred: boolean;
  timer: TimerHandle | undefined;
  /** When the node began its current life (its Lease's acquireTime, ms since the epoch); undefined: unknown. */
  joinedAt: number | undefined;
  /** Seen renewing: a version change observed after the first sight (a stale Lease listed at start never is). */
  renewing: boolean;
  /** Advertises a heartbeat Lease: renewed only on changes, expires only under a verdict (file comment). */
  split: boolean;
  /** The liveness protocol's verdict (dead) stands on it. */
  verdict: boolean;
}

export class MembershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MembershipError';
  }
}

export class Membership {
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly self: string;
  /** Our own Lease not seen changing for this long: frozen. */
  private readonly freezeAfterMs: number;
  private readonly members = new Map<string, Member>();
  private readonly listeners: Array<(change: MembershipChange) => void> = [];
  private readonly judgementListeners: Array<(change: JudgementChange) => void> = [];
  private liveCache: ReadonlySet<string> | undefined;
  /**
   * Nodes seen renewing whose Lease was then deleted (graceful leave), oldest first: still counted by
   * seenRenewing(). Bounded: forgotten when their Lease is seen again, and the oldest beyond
   * max(16, 2 x members) are dropped, so node churn cannot grow it forever.
   */
  private readonly departed = new Set<string>();
  private judgement: JudgementState;
  private freezeTimer: TimerHandle | undefined;
  /** When the freeze timer was last armed (local monotonic). */
  private freezeArmedAt = 0;
  /** Live members renewed periodically (not split), ourselves included: the freeze timer runs only while there are some. */
  private readonly periodic = new Set<string>();

  constructor(options: MembershipOptions) {
    if (!Number.isFinite(options.leaseDurationMs) || options.leaseDurationMs <= 0) {
      throw new MembershipError(`leaseDurationMs: must be a positive number, got ${options.leaseDurationMs}`);
    }
    if (!Number.isFinite(options.renewMs) || options.renewMs <= 0) {
      throw new MembershipError(`renewMs: must be a positive number, got ${options.renewMs}`);
    }
    if (options.self === '') throw new MembershipError('self: must be a node name, got an empty string');
    this.clock = options.clock;
    this.leaseDurationMs = options.leaseDurationMs;
    this.self = options.self;
    // Half a renew interval of slack: request latency and watch delivery jitter, not an outage.
    // Never beyond the lease duration, so our own entry is frozen before it could expire.
    this.freezeAfterMs = Math.min(options.renewMs * 1.5, options.leaseDurationMs);
    this.judgement = { kind: 'frozen', reason: 'selfNotSeen', since: this.clock.now() };
  }

  /** Subscribe to live-set changes; returns the unsubscribe function. */
  onChange(listener: (change: MembershipChange) => void): () => void {
    return subscribe(this.listeners, listener);
  }

  /** Subscribe to judging/frozen transitions; returns the unsubscribe function. */
  onJudgementChange(listener: (change: JudgementChange) => void): () => void {
    return subscribe(this.judgementListeners, listener);
  }

  /**
   * Record the Lease of `node` as seen with `version` (its spec.renewTime string, or its
   * resourceVersion). A new node or a changed version counts as a renewal at local now; the same
   * version again (an informer resync, a re-list) changes nothing, so a dead speaker whose Lease
   * object still exists is not revived by resyncs. A change of our own Lease resumes judging.
   * `joinedAt` is when the node's current life began (its Lease's acquireTime): the layer2 owner
   * prefers speakers that joined before a Service was created (layer2-owner.ts).
   */
  observe(node: string, version: string, joinedAt?: number, split = false): void {
    const now = this.clock.now();
    const member = this.members.get(node);
    if (member && member.version === version) return;
    if (member?.timer) this.clock.clearTimeout(member.timer);
    const wasLive = member?.live ?? false;
    // A changed version of a known Lease (or one that left gracefully and came back) is a renewal seen.
    const renewing = member !== undefined || this.departed.delete(node);
    // A verdict is on a life: not carried into a new one, nor past an expiry (the gate forgets it then too).
    const verdict = member !== undefined && member.live && member.joinedAt === joinedAt && member.verdict;
    const next: Member = { version, changedAt: now, live: true, deferred: false, timer: undefined, joinedAt, renewing, split, verdict };
    if (!split || verdict) next.timer = this.clock.setTimeout(() => this.due(node, next), this.leaseDurationMs);
    this.members.set(node, next);
    this.countPeriodic(node, next);
    if (!wasLive) this.emit({ node, live: true, cause: 'renewed' });
    // A new life changes every Service's candidate tiers: listeners must re-decide, as on a live-set change.
    else if (member?.joinedAt !== joinedAt) this.emit({ node, live: true, cause: 'rejoined' });
    if (node === this.self) this.selfSeen(now);
  }

  /**
   * The liveness protocol's verdict on `node` began (true) or ended (false). A split member expires
   * only under a verdict: leaseDuration after it began (or after the member's last change since).
   */
  setVerdict(node: string, standing: boolean): void {
    const m = this.members.get(node);
    if (!m || m.verdict === standing) return;
    m.verdict = standing;
    if (!m.split || !m.live) return;
    if (standing) {
      if (!m.timer && !m.deferred) m.timer = this.clock.setTimeout(() => this.due(node, m), this.leaseDurationMs);
      return;
    }
    if (m.timer) this.clock.clearTimeout(m.timer);
    m.timer = undefined;
    m.deferred = false;
  }

  /** Live peers (not us) whose Lease is renewed periodically: an older speaker, which expires Leases that stop changing. */
  periodicPeers(): number {
    return this.periodic.size - (this.periodic.has(this.self) ? 1 : 0);
  }

  /**
   * One of our own renewals failed: the API server is not taking our writes, so peers' silence
   * proves nothing until our Lease is seen changing again.
   */
  selfRenewFailed(): void {
    this.freeze('renewFailed');
  }

  /** The Lease of `node` was deleted (graceful shutdown): it stops being live at once, frozen or not. */
  remove(node: string): void {
    const member = this.members.get(node);
    if (!member) return;
    if (member.timer) this.clock.clearTimeout(member.timer);
    this.members.delete(node);
    this.countPeriodic(node, undefined);
    if (member.renewing) {
      this.departed.add(node);
      const max = Math.max(16, 2 * this.members.size);
      for (const old of this.departed) {
        if (this.departed.size <= max) break;
        this.departed.delete(old);
      }
    }
    if (member.live) this.emit({ node, live: false, cause: 'deleted' });
  }

  /**
   * Nodes this speaker has seen renew their Lease (a change observed, not just a first listing),
   * live or not, including those that left gracefully since: the layer2 owner asks which of them
   * failed when it takes a Service (layer2TakeoverFrom). A speaker alone at start, or one that only
   * listed stale Leases (every speaker restarted at once), has seen none renew.
   */
  seenRenewing(): string[] {
    const out: string[] = [];
    for (const [node, m] of this.members) if (m.renewing) out.push(node);
    for (const node of this.departed) out.push(node);
    return out;
  }

  isLive(node: string): boolean {
    return this.members.get(node)?.live ?? false;
  }

  /** Live speakers as a set, rebuilt only when the live set changes (cheap to call per Service). */
  liveSet(): ReadonlySet<string> {
    if (!this.liveCache) {
      const set = new Set<string>();
      for (const [node, m] of this.members) if (m.live) set.add(node);
      this.liveCache = set;
    }
    return this.liveCache;
  }

  /** Live speakers, sorted by name (a stable order for logs and tests; ownership does not depend on it). */
  live(): string[] {
    const out: string[] = [];
    for (const [node, m] of this.members) if (m.live) out.push(node);
    return out.sort();
  }

  /** When `node`'s current life began (ms since the epoch, its Lease's acquireTime); undefined when unknown. */
  joinedAt(node: string): number | undefined {
    return this.members.get(node)?.joinedAt;
  }

  /** Milliseconds since `node`'s Lease last changed, by the local clock; undefined when unknown. */
  sinceLastChange(node: string): number | undefined {
    const m = this.members.get(node);
    return m ? this.clock.now() - m.changedAt : undefined;
  }

  /** Judging peers' silence, or frozen (and why). */
  judgementState(): JudgementState {
    return this.judgement;
  }

  /** Peers kept live only because they fell due while frozen, sorted. */
  deferred(): string[] {
    const out: string[] = [];
    for (const [node, m] of this.members) if (m.deferred) out.push(node);
    return out.sort();
  }

  /** Cancel every timer (on shutdown); the object must not be used afterwards. */
  close(): void {
    for (const m of this.members.values()) if (m.timer) this.clock.clearTimeout(m.timer);
    if (this.freezeTimer) this.clock.clearTimeout(this.freezeTimer);
    this.freezeTimer = undefined;
    this.members.clear();
    this.departed.clear();
    this.periodic.clear();
    this.listeners.length = 0;
    this.judgementListeners.length = 0;
    this.liveCache = undefined;
  }

  // ---- judgement transitions (all here) -------------------------------------------------------

  /** Our own Lease was seen changing at `now`: judging until freezeAfterMs passes without another. */
  private selfSeen(now: number): void {
    this.armFreeze();
    const wasFrozen = this.judgement.kind === 'frozen';
    this.judgement = { kind: 'judging', selfSeenAt: now };
    if (!wasFrozen) return;
    const deferred = this.deferred();
    for (const node of deferred) {
      const m = this.members.get(node);
      if (!m) continue;
      m.deferred = false;
      m.timer = this.clock.setTimeout(() => this.due(node, m), this.leaseDurationMs);
    }
    this.emitJudgement({ state: this.judgement, deferred });
  }

  /** The freeze timer from now, while some live Lease is renewed periodically (file comment); else none. */
  private armFreeze(): void {
    if (this.freezeTimer) this.clock.clearTimeout(this.freezeTimer);
    this.freezeTimer = undefined;
    if (this.periodic.size === 0) return;
    this.freezeArmedAt = this.clock.now();
    this.freezeTimer = this.clock.setTimeout(() => {
      this.freezeTimer = undefined;
      this.freeze('selfOverdue');
    }, this.freezeAfterMs);
  }

  /** Keep `periodic` (live, not split) up to date for `node`; start or stop the freeze timer when it fills or empties. */
  private countPeriodic(node: string, m: Member | undefined): void {
    const before = this.periodic.size;
    if (m && m.live && !m.split) this.periodic.add(node);
    else this.periodic.delete(node);
    if (this.judgement.kind !== 'judging' || (before === 0) === (this.periodic.size === 0)) return;
    // Judging: an older speaker joined (our own Lease is renewed periodically again from now: a full
    // freeze interval to see it), or the last one left (nothing to sample any more).
    this.armFreeze();
  }

  private freeze(reason: FreezeReason): void {
    if (this.judgement.kind === 'frozen') return;
    if (this.freezeTimer) this.clock.clearTimeout(this.freezeTimer);
    this.freezeTimer = undefined;
    this.judgement = { kind: 'frozen', reason, since: this.clock.now() };
    this.emitJudgement({ state: this.judgement, deferred: [] });
  }

  /** A member's lease duration passed without a change: expire it, or defer while frozen. */
  private due(node: string, member: Member): void {
    // A stale timer (the member was replaced or removed since) must do nothing.
    if (this.members.get(node) !== member) return;
    member.timer = undefined;
    // The freeze timer may be due at this same instant: judge by the time, not by timer order.
    if (this.judgement.kind === 'judging' && this.freezeTimer !== undefined && this.clock.now() - this.freezeArmedAt >= this.freezeAfterMs) this.freeze('selfOverdue');
    if (this.judgement.kind === 'frozen') {
      member.deferred = true;
      return;
    }
    member.live = false;
    this.countPeriodic(node, member);
    this.emit({ node, live: false, cause: 'expired' });
  }

  private emit(change: MembershipChange): void {
    this.liveCache = undefined;
    for (const listener of [...this.listeners]) listener(change);
  }

  private emitJudgement(change: JudgementChange): void {
    for (const listener of [...this.judgementListeners]) listener(change);
  }
}

function subscribe<T>(list: Array<(v: T) => void>, listener: (v: T) => void): () => void {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}
