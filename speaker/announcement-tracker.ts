// Applies announce decisions to one Announcer and reports only *changes*: the speaker resyncs every
// Service often (informer resyncs, membership changes), but the Event `nodeAssigned`, the withdrawal
// log line and the protocol calls must happen once per change, never once per sync.
import type { AddressPool, Protocol } from '../config/model.js';
import type { Announcer, WithdrawReason } from './announcer.js';
import type { AnnouncedSource } from './metrics.js';
import type { EndpointsView, ServiceView } from './service-view.js';

export type AnnouncementChange =
  /** Newly announced from this node (for layer2: this node became the owner -> Event nodeAssigned). */
  | { kind: 'assigned'; service: string; protocol: Protocol; ips: readonly string[]; pool: string }
  /** Still announced, with other IPs or from another pool. */
  | { kind: 'updated'; service: string; protocol: Protocol; ips: readonly string[]; pool: string; previousIps: readonly string[] }
  /** No longer announced from this node, and why. */
  | { kind: 'withdrawn'; service: string; protocol: Protocol; ips: readonly string[]; reason: WithdrawReason };

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((ip, i) => ip === b[i]);
}

export class AnnouncementTracker {
  private readonly current = new Map<string, { ips: readonly string[]; pool: string }>();

  constructor(private readonly announcer: Announcer) {}

  /** Decide for `service` and apply the result; null when nothing changed. */
  sync(service: ServiceView, pool: AddressPool, endpoints: EndpointsView): AnnouncementChange | null {
    const reason = this.announcer.shouldAnnounce(service, service.ips, pool, endpoints);
    const prev = this.current.get(service.key);
    const protocol = this.announcer.protocol;
    if (reason !== null) return this.remove(service.key, reason);
    if (prev && sameIps(prev.ips, service.ips) && prev.pool === pool.name) return null;
    // The view's own array, kept by reference (not a copy per Service): views are built from decoded
    // objects, replaced on change and never mutated.
    const ips = service.ips;
    this.announcer.setBalancer(service.key, ips, pool);
    this.current.set(service.key, { ips, pool: pool.name });
    if (!prev) return { kind: 'assigned', service: service.key, protocol, ips, pool: pool.name };
    return { kind: 'updated', service: service.key, protocol, ips, pool: pool.name, previousIps: prev.ips };
  }

  /** Withdraw `service` if announced (deleted, pool gone, ...); null when it was not announced. */
  remove(service: string, reason: WithdrawReason): AnnouncementChange | null {
    const prev = this.current.get(service);
    if (!prev) return null;
    this.announcer.deleteBalancer(service, reason);
    this.current.delete(service);
    return { kind: 'withdrawn', service, protocol: this.announcer.protocol, ips: prev.ips, reason };
  }

  /** Withdraw everything (graceful shutdown). */
  removeAll(reason: WithdrawReason): AnnouncementChange[] {
    return this.removeSome(reason, Infinity);
  }

  /** Withdraw up to `max` of the Services announced (a shutdown in batches: speaker/withdrawals.ts). */
  removeSome(reason: WithdrawReason, max: number): AnnouncementChange[] {
    const services: string[] = [];
    for (const service of this.current.keys()) {
      if (services.length >= max) break;
      services.push(service);
    }
    const out: AnnouncementChange[] = [];
    for (const service of services) {
      const change = this.remove(service, reason);
      if (change) out.push(change);
    }
    return out;
  }

  /** Withdraw every announced Service not in `keep` (after a full resync found them gone). */
  retain(keep: ReadonlySet<string>, reason: WithdrawReason = 'serviceDeleted'): AnnouncementChange[] {
    const out: AnnouncementChange[] = [];
    for (const service of [...this.current.keys()]) {
      if (keep.has(service)) continue;
      const change = this.remove(service, reason);
      if (change) out.push(change);
    }
    return out;
  }

  isAnnounced(service: string): boolean {
    return this.current.has(service);
  }

  /** Services announced now. */
  announced(): string[] {
    return [...this.current.keys()];
  }

  /** Service -> the IPs (the array handed to the announcer and in the change) and pool announced now. */
  entries(): IterableIterator<[string, { readonly ips: readonly string[]; readonly pool: string }]> {
    return this.current.entries();
  }

  /** Service -> the IPs announced now, as herald_speaker_announced reads them (metrics.ts): no map of the metrics' own. */
  readonly announcedIps: AnnouncedSource = ((t: AnnouncementTracker): AnnouncedSource => ({
    entries: () => t.ipEntries(),
    get size() {
      return t.current.size;
    },
  }))(this);

  private *ipEntries(): IterableIterator<[string, readonly string[]]> {
    for (const [service, a] of this.current) yield [service, a.ips];
  }

  /**
   * Forget every Service without telling the announcer (it was shut down as a whole: a BGP
   * shutdown's Cease withdraws all routes at once); the changes, for the metrics and logs.
   */
  forgetAll(reason: WithdrawReason): AnnouncementChange[] {
    const out: AnnouncementChange[] = [];
    for (const [service, prev] of this.current) out.push({ kind: 'withdrawn', service, protocol: this.announcer.protocol, ips: prev.ips, reason });
    this.current.clear();
    return out;
  }

  /** Number of Services announced now. */
  get size(): number {
    return this.current.size;
  }
}
