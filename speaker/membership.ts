// The set of live speakers, from the Lease renewals this speaker observes. A Lease counts as live
// while it *changed* within leaseDuration, timed on the local monotonic clock at the moment the
// change was observed: renewTime is another node's wall clock and is only compared for equality,
// never subtracted, so clock skew between nodes cannot make a speaker look alive or dead.
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface MembershipOptions {
  clock: Clock;
  /** Milliseconds a Lease stays live after its last observed change. */
  leaseDurationMs: number;
}

/** A change of the live set: `node` became live or stopped being live. */
export interface MembershipChange {
  node: string;
  live: boolean;
  /** Why it stopped being live: its Lease was not renewed in time, or was deleted. */
  cause: 'renewed' | 'expired' | 'deleted';
}

interface Member {
  /** The last version seen (renewTime string or resourceVersion): only compared for equality. */
  version: string;
  /** Local monotonic time the version last changed. */
  changedAt: number;
  live: boolean;
  timer: TimerHandle | undefined;
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
  private readonly members = new Map<string, Member>();
  private readonly listeners: Array<(change: MembershipChange) => void> = [];
  private liveCache: ReadonlySet<string> | undefined;

  constructor(options: MembershipOptions) {
    if (!Number.isFinite(options.leaseDurationMs) || options.leaseDurationMs <= 0) {
      throw new MembershipError(`leaseDurationMs: must be a positive number, got ${options.leaseDurationMs}`);
    }
    this.clock = options.clock;
    this.leaseDurationMs = options.leaseDurationMs;
  }

  /** Subscribe to live-set changes; returns the unsubscribe function. */
  onChange(listener: (change: MembershipChange) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Record the Lease of `node` as seen with `version` (its spec.renewTime string, or its
   * resourceVersion). A new node or a changed version counts as a renewal at local now; the same
   * version again (an informer resync, a re-list) changes nothing, so a dead speaker whose Lease
   * object still exists is not revived by resyncs.
   */
  observe(node: string, version: string): void {
    const now = this.clock.now();
    const member = this.members.get(node);
    if (member && member.version === version) return;
    if (member?.timer) this.clock.clearTimeout(member.timer);
    const wasLive = member?.live ?? false;
    const next: Member = { version, changedAt: now, live: true, timer: undefined };
    next.timer = this.clock.setTimeout(() => this.expire(node, next), this.leaseDurationMs);
    this.members.set(node, next);
    if (!wasLive) this.emit({ node, live: true, cause: 'renewed' });
  }

  /** The Lease of `node` was deleted (graceful shutdown): it stops being live at once. */
  remove(node: string): void {
    const member = this.members.get(node);
    if (!member) return;
    if (member.timer) this.clock.clearTimeout(member.timer);
    this.members.delete(node);
    if (member.live) this.emit({ node, live: false, cause: 'deleted' });
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

  /** Milliseconds since `node`'s Lease last changed, by the local clock; undefined when unknown. */
  sinceLastChange(node: string): number | undefined {
    const m = this.members.get(node);
    return m ? this.clock.now() - m.changedAt : undefined;
  }

  /** Cancel every timer (on shutdown); the object must not be used afterwards. */
  close(): void {
    for (const m of this.members.values()) if (m.timer) this.clock.clearTimeout(m.timer);
    this.members.clear();
    this.listeners.length = 0;
    this.liveCache = undefined;
  }

  private expire(node: string, member: Member): void {
    // A stale timer (the member was replaced or removed since) must do nothing.
    if (this.members.get(node) !== member) return;
    member.timer = undefined;
    member.live = false;
    this.emit({ node, live: false, cause: 'expired' });
  }

  private emit(change: MembershipChange): void {
    this.liveCache = undefined;
    for (const listener of [...this.listeners]) listener(change);
  }
}
