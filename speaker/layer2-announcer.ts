// The layer2 side of the Announcer interface: the speaker decides ownership (layer2-owner.ts, passed
// in as `decide`), this class answers ARP/NDP for the balancers it is given through
// protocols/layer2. VIPs are reference-counted by Service, so two Services sharing an IP keep it
// announced until both are gone. Per-VIP protocol counters are copied into the metrics periodically.
import { layer2Interfaces } from '../config/advertisement-scope.js';
import type { AddressPool, Config } from '../config/model.js';
import type { Logger } from '../kube/log.js';
import { systemClock, type Clock, type TimerHandle } from '../protocols/clock.js';
import { Announcer as L2Announcer, DROP_REASONS, parseVip, type AddressConflict, type GlobalCounters, type VipCounters } from '../protocols/layer2/announcer.js';
import { InterfaceWatcher } from '../protocols/layer2/interface-watcher.js';
import { sysLinkSource, type LinkSource } from '../protocols/layer2/interfaces.js';
import type { Layer2Io } from '../protocols/layer2/io.js';
import { formatMac } from '../protocols/rawio/mac.js';
import type { AnnounceDecider, AnnounceReason, WithdrawReason } from './announcer.js';
import type { SpeakerMetrics } from './metrics.js';
import type { EndpointsView, ServiceView } from './service-view.js';
import type { DaemonAnnouncer, ServiceEventSink } from './speaker.js';

export interface Layer2AnnouncerOptions {
  decide: AnnounceDecider;
  /** Asked before every answer and gratuitous frame (the speaker's fencing, read when needed). */
  mayAnswer?: () => boolean;
  io: Layer2Io;
  /** Serve exactly these interfaces (empty: every eligible one). */
  include: string[];
  exclude: RegExp[];
  log: Logger;
  metrics?: SpeakerMetrics;
  clock?: Clock;
  links?: LinkSource;
  /** Interface rescan and counter copy period (default 1000 ms). */
  periodMs?: number;
  /** Where address-conflict Events go (the daemon's paced Events on the Service). */
  serviceEvent?: ServiceEventSink;
}

export class Layer2Announcer implements DaemonAnnouncer {
  readonly protocol = 'layer2' as const;
  private readonly l2: L2Announcer;
  private readonly watcher: InterfaceWatcher;
  private readonly clock: Clock;
  private readonly periodMs: number;
  /** VIP (canonical text) -> the Service announcing it, or the Services when shared (one is the common case: no Set per VIP). */
  private readonly users = new Map<string, string | Set<string>>();
  private readonly byService = new Map<string, string[]>();
  /** Service -> its pool: the pool's L2Advertisements say on which interfaces its VIPs are answered. */
  private readonly poolOf = new Map<string, AddressPool>();
  /** This node's labels (the advertisements' node selectors pick the interfaces per node). */
  private labels: Record<string, string> = {};
  /** Counters already copied into the metrics, per VIP. */
  private readonly copied = new Map<string, VipCounters>();
  private copiedGlobal: GlobalCounters | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly opts: Layer2AnnouncerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.periodMs = opts.periodMs ?? 1000;
    const log = opts.log;
    const l2log = {
      info: (o: object, msg: string) => log.info({ event: 'layer2', reason: JSON.stringify(o) }, msg),
      warn: (o: object, msg: string) => log.warn({ event: 'layer2', reason: JSON.stringify(o) }, msg),
      // Not even the text when debug is off: a line per VIP at 100,000 VIPs.
      debug: (o: object, msg: string) => log.isLevelEnabled('debug') && log.debug({ event: 'layer2', reason: JSON.stringify(o) }, msg),
    };
    // Each VIP's announce and withdrawal at debug: the speaker logs the Services (speaker/withdrawals.ts).
    this.l2 = new L2Announcer({ io: opts.io, clock: this.clock, log: l2log, mayAnswer: opts.mayAnswer, onConflict: (c) => this.onConflict(c), vipLogLevel: 'debug' });
    this.watcher = new InterfaceWatcher({
      source: opts.links ?? sysLinkSource,
      selection: { include: opts.include, exclude: opts.exclude },
      periodMs: this.periodMs,
      clock: this.clock,
      apply: (links) => this.l2.setInterfaces(links),
      onChange: (r) =>
        log.info({ event: 'interfacesSelected', reason: r.links.map((l) => `${l.name} ${formatMac(l.mac)}`).join(', ') || 'none' }, `serving ${r.links.length} interfaces`),
    });
  }

  start(): void {
    this.watcher.start();
    const tick = (): void => {
      this.copyCounters();
      this.timer = this.clock.setTimeout(tick, this.periodMs);
    };
    this.timer = this.clock.setTimeout(tick, this.periodMs);
  }

  /** A new config: the pools' L2Advertisements may list other interfaces now. */
  setConfig(config: Config): void {
    const pools = new Map(config.pools.map((p) => [p.name, p]));
    for (const [service, pool] of this.poolOf) {
      const next = pools.get(pool.name);
      if (next) this.poolOf.set(service, next);
    }
    this.reapply();
  }

  nodeLabelsChanged(labels: Record<string, string>): void {
    this.labels = labels;
    this.reapply();
  }

  /** The interfaces a VIP is answered on now (the speaker's selection, narrowed by L2Advertisement.interfaces). */
  interfacesOf(ip: string): string[] {
    return this.l2.interfacesOf(ip);
  }

  /** The interfaces a Service's VIPs are answered on now (ServiceL2Status.status.interfaces). */
  interfaces(service: string): readonly string[] {
    return [...new Set((this.byService.get(service) ?? []).flatMap((ip) => this.l2.interfacesOf(ip)))];
  }

  private interfacesFor(pool: AddressPool | undefined): string[] | undefined {
    return pool ? layer2Interfaces(pool, this.labels) : undefined;
  }

  private reapply(): void {
    for (const [ip, services] of this.users) {
      const first = typeof services === 'string' ? services : services.values().next().value;
      this.l2.announce(ip, this.interfacesFor(first === undefined ? undefined : this.poolOf.get(first)));
    }
  }

  shouldAnnounce(service: ServiceView, ips: readonly string[], pool: AddressPool, endpoints: EndpointsView): AnnounceReason | null {
    return this.opts.decide(service, ips, pool, endpoints);
  }

  setBalancer(name: string, ips: readonly string[], pool: AddressPool): void {
    const next = ips.map((ip) => parseVip(ip).ip);
    const prev = this.byService.get(name) ?? [];
    this.poolOf.set(name, pool);
    for (const ip of next) {
      if (!prev.includes(ip)) this.use(ip, name, pool);
      else this.l2.announce(ip, this.interfacesFor(pool)); // the pool (its interfaces) may have changed
    }
    for (const ip of prev) if (!next.includes(ip)) this.release(ip, name);
    this.byService.set(name, next);
  }

  deleteBalancer(name: string, _reason: WithdrawReason): void {
    for (const ip of this.byService.get(name) ?? []) this.release(ip, name);
    this.byService.delete(name);
    this.poolOf.delete(name);
  }

  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.copyCounters();
    this.watcher.stop();
    this.l2.close();
  }

  private use(ip: string, service: string, pool: AddressPool): void {
    const cur = this.users.get(ip);
    if (cur === undefined) {
      this.users.set(ip, service);
      // Services sharing a VIP share its pool, so the first one's advertisements say where it is answered.
      this.l2.announce(ip, this.interfacesFor(pool));
    } else if (typeof cur === 'string') {
      if (cur !== service) this.users.set(ip, new Set([cur, service]));
    } else cur.add(service);
  }

  private release(ip: string, service: string): void {
    const cur = this.users.get(ip);
    if (cur === undefined) return;
    if (typeof cur !== 'string') {
      cur.delete(service);
      if (cur.size > 1) return;
      // One left: back to the plain key; none (not a user): fall through and withdraw.
      const left = cur.values().next().value;
      if (left !== undefined) return void this.users.set(ip, left);
    } else if (cur !== service) return;
    this.users.delete(ip);
    this.l2.withdraw(ip);
    // Its series go with the withdrawal; a later announce counts only what happens from then on.
    const c = this.l2.counters().get(ip);
    if (c) this.copied.set(ip, c);
  }

  /**
   * Another host claims one of our VIPs. The announcer logged it (once per defence); here each
   * Service using the VIP gets a Warning Event, at most one per defence interval (the Event pacer
   * also keeps one pending Event per Service and reason).
   */
  private onConflict(c: AddressConflict): void {
    if (!c.defended) return;
    const note = `another host (MAC ${c.mac}, on ${c.interface}) claims ${c.vip} (${c.how}); this node defended it once (RFC 5227) and keeps announcing it as the cluster decided`;
    const users = this.users.get(c.vip) ?? [];
    for (const service of typeof users === 'string' ? [users] : users) this.opts.serviceEvent?.(service, 'Warning', 'AddressConflict', 'Announce', note);
  }

  /** Adds the counters' growth since the last copy to the metrics (only for VIPs announced now: withdrawn VIPs' series are gone). */
  private copyCounters(): void {
    const m = this.opts.metrics;
    if (!m) return;
    for (const [ip, c] of this.l2.counters()) {
      if (!this.users.has(ip)) continue;
      const before = this.copied.get(ip) ?? { requestsReceived: 0, responsesSent: 0, gratuitousSent: 0, conflicts: 0 };
      if (c.requestsReceived > before.requestsReceived) m.layer2RequestsReceived.inc({ ip }, c.requestsReceived - before.requestsReceived);
      if (c.responsesSent > before.responsesSent) m.layer2ResponsesSent.inc({ ip }, c.responsesSent - before.responsesSent);
      if (c.gratuitousSent > before.gratuitousSent) m.layer2GratuitousSent.inc({ ip }, c.gratuitousSent - before.gratuitousSent);
      if (c.conflicts > before.conflicts) m.layer2Conflicts.inc({ ip }, c.conflicts - before.conflicts);
      this.copied.set(ip, c);
    }
    const g = this.l2.globalCounters();
    const was = this.copiedGlobal;
    for (const reason of DROP_REASONS) {
      const grew = g.dropped[reason] - (was?.dropped[reason] ?? 0);
      if (grew > 0) m.layer2FramesDropped.inc({ reason }, grew);
    }
    if (g.invalidFrames > (was?.invalidFrames ?? 0)) m.layer2FramesDropped.inc({ reason: 'malformed' }, g.invalidFrames - (was?.invalidFrames ?? 0));
    // Dropped by the kernel before we read them: the receive ring was full (a flood, or starved of CPU).
    if (g.receiveDrops > (was?.receiveDrops ?? 0)) m.layer2FramesDropped.inc({ reason: 'ring-full' }, g.receiveDrops - (was?.receiveDrops ?? 0));
    this.copiedGlobal = g;
  }
}
