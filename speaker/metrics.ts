// The speaker's metrics. Series carrying a Service, a peer or a VIP are removed when that Service,
// peer or VIP goes away, so dashboards and alerts do not see ghosts of deleted Services.
import { Counter, Gauge, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Protocol } from '../config/model.js';
import { DaemonMetrics, type DaemonMetricsOptions } from '../kube/daemon-metrics.js';
import type { IterableMetric, IterableValues } from '../kube/metrics-text.js';
import type { BgpResources } from '../protocols/bgp/resources.js';

/** What the BGP metrics read at scrape time (speaker/bgp-announcer.ts provides the queues). */
export interface BgpResourceSource {
  resources: BgpResources;
  /** Bytes queued towards each peer with a session. */
  queuedBytes(): Iterable<[peer: string, bytes: number]>;
}

const PROTOCOLS: readonly Protocol[] = ['layer2', 'bgp'];

type AnnouncedLabel = 'service' | 'protocol' | 'node' | 'ip';

/**
 * herald_speaker_announced, its series built at scrape time from what is announced (`source`) rather
 * than kept: a prom-client series is a label object, a value object and a ~100-character hash key,
 * ~250 bytes per Service held for its whole life (2.5 MB at 10,000 Services). A scrape builds them
 * and drops them. Nothing calls set() on it.
 */
class AnnouncedGauge extends Gauge<AnnouncedLabel> implements IterableMetric {
  constructor(
    registers: Registry[],
    /** What is announced now, fixed when called (one turn); its series built as they are iterated. */
    private readonly source: () => Iterable<MetricValue<AnnouncedLabel>>,
  ) {
    super({
      name: 'herald_speaker_announced',
      help: '1 for each VIP of a Service this speaker announces, per protocol (layer2 owner, or BGP advertised).',
      labelNames: ['service', 'protocol', 'node', 'ip'],
      registers,
    });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<AnnouncedLabel>>> {
    return { ...(await super.get()), values: [...this.source()] };
  }

  /** For /metrics (kube/metrics-text.ts): the series built slice by slice, over several turns. */
  async getIterable(): Promise<IterableValues> {
    return { metric: { ...(await super.get()), values: [] }, values: this.source() };
  }
}

/**
 * What herald_speaker_announced reads for one protocol: Service -> the IPs announced now. By default
 * a map of the metrics' own, filled by setAnnounced/withdrawn; the speaker hands its announcement
 * trackers instead (readAnnouncedFrom), which hold the same arrays: a second 10,000-entry map of
 * them cost ~450 kB (heap snapshot at 10,000 Services).
 */
export interface AnnouncedSource {
  entries(): Iterable<[string, readonly string[]]>;
  readonly size: number;
}

export interface SpeakerMetricsOptions extends DaemonMetricsOptions {
  /** This speaker's node name: the `node` label of herald_speaker_announced. */
  node: string;
}

export class SpeakerMetrics extends DaemonMetrics {
  readonly node: string;
  /** Read-only: its series come from setAnnounced/withdrawn (AnnouncedGauge). */
  readonly announced: Gauge<AnnouncedLabel>;
  readonly bgpSessionUp: Gauge<'peer'>;
  readonly bgpUpdates: Counter<'peer'>;
  readonly bgpAnnouncedPrefixes: Gauge<'peer'>;
  readonly bgpPeerAsn: Gauge<'peer'>;
  readonly bgpSocketsOpen: Gauge<string>;
  readonly bgpQueuedBytes: Gauge<string>;
  readonly bgpConnectionsRefused: Counter<string>;
  readonly bgpConnectionsDestroyed: Counter<string>;
  readonly bgpSessionsOutOfResources: Counter<string>;
  private bgpSource: BgpResourceSource | undefined;
  readonly bfdSessionUp: Gauge<'peer'>;
  readonly bfdTransitions: Counter<'peer' | 'to'>;
  readonly bfdDetection: Gauge<'peer'>;
  readonly layer2RequestsReceived: Counter<'ip'>;
  readonly layer2ResponsesSent: Counter<'ip'>;
  readonly layer2GratuitousSent: Counter<'ip'>;
  readonly layer2Conflicts: Counter<'ip'>;
  readonly livenessDropped: Counter<'reason'>;
  readonly layer2FramesDropped: Counter<'reason'>;
  readonly layer2ClaimsGated: Gauge<string>;
  readonly layer2ClaimsGatedSeconds: Counter<'outcome'>;
  /**
   * protocol -> service -> IPs announced (what herald_speaker_announced currently has). The arrays
   * are the callers' (not copied): with 10,000s of Services a copy per Service is megabytes.
   */
  private own: Record<Protocol, Map<string, readonly string[]>> | undefined = { layer2: new Map(), bgp: new Map() };
  /** What the series are read from: `own`, or the speaker's trackers (readAnnouncedFrom). */
  private announcedIps: Record<Protocol, AnnouncedSource> = this.own as Record<Protocol, Map<string, readonly string[]>>;
  /**
   * layer2 VIPs withdrawn by some Service since the last sweep (sweepLayer2): their counters go unless
   * another Service still announces them. Swept at each scrape (before the counters are read) and once
   * it holds as many VIPs as are announced, so one pass over the announced Services serves many
   * withdrawals: a scan per withdrawn VIP cost a fenced speaker withdrawing 10,000 Services ~40 s
   * (quadratic), and a count of users per VIP was a 10,000-entry map held for good (459 kB).
   */
  private readonly layer2Withdrawn = new Set<string>();
  /** Peers with series (prom-client keeps no synchronous index of label values). */
  private readonly peers = new Set<string>();

  constructor(options: SpeakerMetricsOptions) {
    super(options);
    this.node = options.node;
    const registers = [this.registry];
    // The layer2 counters of VIPs nobody announces any more go before a scrape reads them.
    const sweep = (): void => this.sweepLayer2();
    this.announced = new AnnouncedGauge(registers, () => this.announcedSeries());
    this.bgpSessionUp = new Gauge({
      name: 'herald_bgp_session_up',
      help: '1 when the BGP session to the peer is Established, else 0.',
      labelNames: ['peer'],
      registers,
    });
    this.bgpUpdates = new Counter({
      name: 'herald_bgp_updates_total',
      help: 'BGP UPDATE messages sent to the peer.',
      labelNames: ['peer'],
      registers,
    });
    this.bgpAnnouncedPrefixes = new Gauge({
      name: 'herald_bgp_announced_prefixes',
      help: 'Prefixes currently advertised to the peer.',
      labelNames: ['peer'],
      registers,
    });
    this.bgpPeerAsn = new Gauge({
      name: 'herald_bgp_peer_asn',
      help: "The peer's AS number from its OPEN (learned there for a dynamic-asn peer); absent until a session got that far.",
      labelNames: ['peer'],
      registers,
    });
    // Read from the BGP resource counters at scrape time (protocols/bgp/resources.ts).
    const scrape = (): BgpResourceSource | undefined => this.bgpSource;
    this.bgpSocketsOpen = scraped(Gauge, registers, scrape, 'herald_bgp_sockets_open', 'BGP TCP connections (incoming and outgoing) holding a descriptor.', undefined, (s) => [['', s.resources.socketsOpen]]);
    this.bgpQueuedBytes = scraped(Gauge, registers, scrape, 'herald_bgp_queued_bytes', 'Bytes written to the peer and not yet taken by its TCP stack (capped; beyond the cap: Cease/Out of Resources).', 'peer', (s) => s.queuedBytes());
    this.bgpConnectionsRefused = scraped(
      Counter,
      registers,
      scrape,
      'herald_bgp_connections_refused_total',
      "Incoming BGP connections closed at once: not-a-peer, ambiguous-local-address, listener-closed, back-off (the peer's sessions keep failing), stopped.",
      'reason',
      (s) => s.resources.connectionsRefused,
    );
    this.bgpConnectionsDestroyed = scraped(Counter, registers, scrape, 'herald_bgp_connections_destroyed_total', 'BGP connections destroyed because the peer did not close its end within the grace period after ours.', undefined, (s) => [['', s.resources.connectionsDestroyed]]);
    this.bgpSessionsOutOfResources = scraped(Counter, registers, scrape, 'herald_bgp_sessions_out_of_resources_total', 'Sessions torn down with Cease/Out of Resources: the peer did not read and the queued bytes passed the cap.', 'peer', (s) => s.resources.sessionsOutOfResources);
    this.bfdSessionUp = new Gauge({
      name: 'herald_bfd_session_up',
      help: '1 when the BFD session to the BGP peer is Up, else 0 (peers with a bfd-profile only).',
      labelNames: ['peer'],
      registers,
    });
    this.bfdTransitions = new Counter({
      name: 'herald_bfd_session_transitions_total',
      help: 'BFD session state changes to the BGP peer, by the state entered (Up, Down, Init, AdminDown).',
      labelNames: ['peer', 'to'],
      registers,
    });
    this.bfdDetection = new Gauge({
      name: 'herald_bfd_last_detection_seconds',
      help: 'At the last Detection Time expiry: seconds from the last packet received to the session declared Down.',
      labelNames: ['peer'],
      registers,
    });
    this.layer2RequestsReceived = new Counter({
      name: 'herald_layer2_requests_received_total',
      help: 'ARP requests / IPv6 neighbor solicitations received for the VIP.',
      labelNames: ['ip'],
      registers,
      collect: sweep,
    });
    this.layer2ResponsesSent = new Counter({
      name: 'herald_layer2_responses_sent_total',
      help: 'ARP replies / neighbor advertisements sent for the VIP.',
      labelNames: ['ip'],
      registers,
      collect: sweep,
    });
    this.layer2GratuitousSent = new Counter({
      name: 'herald_layer2_gratuitous_sent_total',
      help: 'Gratuitous ARP / unsolicited neighbor advertisements sent for the VIP (on taking ownership).',
      labelNames: ['ip'],
      registers,
      collect: sweep,
    });
    this.livenessDropped = new Counter({
      name: 'herald_liveness_dropped_total',
      help: 'Liveness datagrams dropped unread (reason): BadMac (unauthenticated), BadVersion, a malformed field, tooLong, Replay (a stamp seen already), Downgrade (version 1 from a peer that speaks version 2 or 3), UnknownId (wire version 3: a sender id that names no member), noAddress (not sent).',
      labelNames: ['reason'],
      registers,
    });
    this.layer2Conflicts = new Counter({
      name: 'herald_layer2_address_conflicts_total',
      help: 'Frames from another host claiming the VIP (ARP with the VIP as sender, NA for it, NS from it).',
      labelNames: ['ip'],
      registers,
      collect: sweep,
    });
    this.layer2FramesDropped = new Counter({
      name: 'herald_layer2_frames_dropped_total',
      help: 'ARP/NDP frames dropped unanswered: malformed, a sender no host can have, or ring-full (the kernel receive ring overflowed) (reason).',
      labelNames: ['reason'],
      registers,
    });
    this.layer2ClaimsGated = new Gauge({
      name: 'herald_layer2_claims_gated',
      help: '1 while this speaker, back from a cut (fenced, declared dead), claims no new layer2 Service until its ServiceL2Status and Lease views are listed again, else 0.',
      registers,
    });
    this.layer2ClaimsGated.set(0);
    this.layer2ClaimsGatedSeconds = new Counter({
      name: 'herald_layer2_claims_gated_seconds_total',
      help: 'Seconds claims stayed gated after a reconnection, by how the gate opened (listed, or timeout: the lists kept failing).',
      labelNames: ['outcome'],
      registers,
    });
  }

  /**
   * Read the announced Services from `sources` from now on (the speaker's trackers, updated before
   * each setAnnounced/withdrawn call, which then pass what was announced before): no map of our own.
   */
  readAnnouncedFrom(sources: Record<Protocol, AnnouncedSource>): void {
    this.own = undefined;
    this.announcedIps = sources;
  }

  /**
   * Record that `service` is announced over `protocol` with exactly `ips` (replacing the previous
   * set). `ips` is kept by reference: the caller must not change it afterwards. With external
   * sources (readAnnouncedFrom) they already say so, and `before` is what was announced until now.
   */
  setAnnounced(service: string, protocol: Protocol, ips: readonly string[], before?: readonly string[]): void {
    if (ips.length === 0) return this.withdrawn(service, protocol, before);
    const own = this.own?.[protocol];
    if (own) {
      before = own.get(service);
      own.set(service, ips);
    }
    if (before) for (const ip of distinct(before)) if (!ips.includes(ip)) this.dropAnnounced(protocol, ip);
  }

  /**
   * One herald_speaker_announced series per Service, protocol and distinct VIP announced now: the
   * Services and their IP arrays (kept by reference, never changed) fixed at the call, the series
   * built as they are iterated (a scrape spreads that over turns: no series twice, none missed).
   */
  private announcedSeries(): Iterable<MetricValue<AnnouncedLabel>> {
    const node = this.node;
    const fixed = PROTOCOLS.map((protocol) => {
      const services: string[] = [];
      const ips: (readonly string[])[] = [];
      for (const [service, a] of this.announcedIps[protocol].entries()) {
        services.push(service);
        ips.push(a);
      }
      return { protocol, services, ips };
    });
    return {
      *[Symbol.iterator]() {
        for (const { protocol, services, ips } of fixed) {
          for (let i = 0; i < services.length; i++) for (const ip of distinct(ips[i] as readonly string[])) yield { value: 1, labels: { service: services[i] as string, protocol, node, ip } };
        }
      },
    };
  }

  /**
   * `service` is no longer announced over `protocol` (or over any protocol when omitted). With
   * external sources (readAnnouncedFrom) they already say so, and `ips` is what was announced.
   */
  withdrawn(service: string, protocol?: Protocol, ips?: readonly string[]): void {
    for (const p of protocol ? [protocol] : PROTOCOLS) {
      const own = this.own?.[p];
      let was = ips;
      if (own) {
        was = own.get(service);
        own.delete(service);
      }
      if (was) for (const ip of distinct(was)) this.dropAnnounced(p, ip);
    }
  }

  /** The Service was deleted: every series naming it goes (and the layer2 counters of VIPs nobody announces now). */
  removeService(service: string): void {
    this.withdrawn(service);
  }

  /** Export the BGP resource counters and queues of this source. */
  watchBgpResources(source: BgpResourceSource): void {
    this.bgpSource = source;
  }

  setSessionUp(peer: string, up: boolean): void {
    this.peers.add(peer);
    this.bgpSessionUp.set({ peer }, up ? 1 : 0);
  }

  updateSent(peer: string, count = 1): void {
    this.peers.add(peer);
    this.bgpUpdates.inc({ peer }, count);
  }

  setAnnouncedPrefixes(peer: string, count: number): void {
    this.peers.add(peer);
    this.bgpAnnouncedPrefixes.set({ peer }, count);
  }

  setPeerAsn(peer: string, asn: number): void {
    this.peers.add(peer);
    this.bgpPeerAsn.set({ peer }, asn);
  }

  /** The peer was removed from the config (or no longer selects this node): its series go. */
  removePeer(peer: string): void {
    this.bgpSessionUp.remove({ peer });
    this.bgpPeerAsn.remove({ peer });
    this.bgpUpdates.remove({ peer });
    this.bgpAnnouncedPrefixes.remove({ peer });
    this.peers.delete(peer);
  }

  /** Keep only the series of these peers (call after a config change). */
  retainPeers(peers: Iterable<string>): void {
    const keep = new Set(peers);
    for (const peer of [...this.peers]) if (!keep.has(peer)) this.removePeer(peer);
  }

  setBfdUp(peer: string, up: boolean): void {
    this.bfdSessionUp.set({ peer }, up ? 1 : 0);
  }

  bfdTransition(peer: string, to: string, up: boolean): void {
    this.bfdTransitions.inc({ peer, to });
    this.bfdSessionUp.set({ peer }, up ? 1 : 0);
  }

  setBfdDetection(peer: string, seconds: number): void {
    this.bfdDetection.set({ peer }, seconds);
  }

  /** The peer runs no BFD now: its BFD series go. */
  removeBfdPeer(peer: string): void {
    this.bfdSessionUp.remove({ peer });
    this.bfdDetection.remove({ peer });
    for (const to of ['Up', 'Down', 'Init', 'AdminDown']) this.bfdTransitions.remove({ peer, to });
  }

  countLayer2Request(ip: string): void {
    this.layer2RequestsReceived.inc({ ip });
  }

  countLayer2Response(ip: string): void {
    this.layer2ResponsesSent.inc({ ip });
  }

  countLayer2Gratuitous(ip: string, count = 1): void {
    this.layer2GratuitousSent.inc({ ip }, count);
  }

  /** Drop the layer2 counters of `ip` (done automatically when no Service announces it over layer2). */
  removeLayer2Ip(ip: string): void {
    this.layer2RequestsReceived.remove({ ip });
    this.layer2ResponsesSent.remove({ ip });
    this.layer2GratuitousSent.remove({ ip });
    this.layer2Conflicts.remove({ ip });
  }

  /** `ip` is no longer announced for `service` (its series goes with the map entry); layer2: its counters with the last user (sweepLayer2). */
  private dropAnnounced(protocol: Protocol, ip: string): void {
    if (protocol !== 'layer2') return;
    this.layer2Withdrawn.add(ip);
    if (this.layer2Withdrawn.size >= Math.max(1024, this.announcedIps.layer2.size)) this.sweepLayer2();
  }

  /** Drops the layer2 counters of every withdrawn VIP no Service announces now: one pass over the announced Services. */
  private sweepLayer2(): void {
    const withdrawn = this.layer2Withdrawn;
    if (withdrawn.size === 0) return;
    for (const [, ips] of this.announcedIps.layer2.entries()) for (const ip of ips) withdrawn.delete(ip);
    for (const ip of withdrawn) this.removeLayer2Ip(ip);
    withdrawn.clear();
  }
}

/** Each address once (a Service lists an address at most once per family; counted once regardless). */
function distinct(ips: readonly string[]): readonly string[] {
  return ips.length < 2 || ips.every((ip, i) => ips.indexOf(ip) === i) ? ips : [...new Set(ips)];
}

/**
 * A metric whose values are read from `read` at scrape time, replacing what it had: `label` names the
 * key of each pair, or none for one unlabelled value (its key ignored). Nothing until a source is set.
 */
function scraped<M extends typeof Counter<string> | typeof Gauge<string>>(
  Metric: M,
  registers: Registry[],
  source: () => BgpResourceSource | undefined,
  name: string,
  help: string,
  label: string | undefined,
  read: (s: BgpResourceSource) => Iterable<[string, number]>,
): InstanceType<M> {
  return new Metric({
    name,
    help,
    labelNames: label ? [label] : [],
    registers,
    collect(this: Counter<string> | Gauge<string>) {
      const s = source();
      if (!s) return;
      this.reset();
      for (const [key, value] of read(s)) {
        const labels = label ? { [label]: key } : {};
        if (this instanceof Gauge) this.set(labels, value);
        else if (value > 0) this.inc(labels, value);
      }
    },
  }) as InstanceType<M>;
}
