// The speaker's metrics. Series carrying a Service, a peer or a VIP are removed when that Service,
// peer or VIP goes away, so dashboards and alerts do not see ghosts of deleted Services.
import { Counter, Gauge } from 'prom-client';
import type { Protocol } from '../config/model.js';
import { DaemonMetrics, type DaemonMetricsOptions } from '../kube/daemon-metrics.js';

export interface SpeakerMetricsOptions extends DaemonMetricsOptions {
  /** This speaker's node name: the `node` label of herald_speaker_announced. */
  node: string;
}

export class SpeakerMetrics extends DaemonMetrics {
  readonly node: string;
  readonly announced: Gauge<'service' | 'protocol' | 'node' | 'ip'>;
  readonly bgpSessionUp: Gauge<'peer'>;
  readonly bgpUpdates: Counter<'peer'>;
  readonly bgpAnnouncedPrefixes: Gauge<'peer'>;
  readonly layer2RequestsReceived: Counter<'ip'>;
  readonly layer2ResponsesSent: Counter<'ip'>;
  readonly layer2GratuitousSent: Counter<'ip'>;
  /** service -> protocol -> IPs announced (what herald_speaker_announced currently has). */
  private readonly announcedByService = new Map<string, Map<Protocol, Set<string>>>();
  /** Peers with series (prom-client keeps no synchronous index of label values). */
  private readonly peers = new Set<string>();

  constructor(options: SpeakerMetricsOptions) {
    super(options);
    this.node = options.node;
    const registers = [this.registry];
    this.announced = new Gauge({
      name: 'herald_speaker_announced',
      help: '1 for each VIP of a Service this speaker announces, per protocol (layer2 owner, or BGP advertised).',
      labelNames: ['service', 'protocol', 'node', 'ip'],
      registers,
    });
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
    this.layer2RequestsReceived = new Counter({
      name: 'herald_layer2_requests_received_total',
      help: 'ARP requests / IPv6 neighbor solicitations received for the VIP.',
      labelNames: ['ip'],
      registers,
    });
    this.layer2ResponsesSent = new Counter({
      name: 'herald_layer2_responses_sent_total',
      help: 'ARP replies / neighbor advertisements sent for the VIP.',
      labelNames: ['ip'],
      registers,
    });
    this.layer2GratuitousSent = new Counter({
      name: 'herald_layer2_gratuitous_sent_total',
      help: 'Gratuitous ARP / unsolicited neighbor advertisements sent for the VIP (on taking ownership).',
      labelNames: ['ip'],
      registers,
    });
  }

  /** Record that `service` is announced over `protocol` with exactly `ips` (replacing the previous set). */
  setAnnounced(service: string, protocol: Protocol, ips: readonly string[]): void {
    if (ips.length === 0) return this.withdrawn(service, protocol);
    let byProtocol = this.announcedByService.get(service);
    if (!byProtocol) this.announcedByService.set(service, (byProtocol = new Map()));
    const before = byProtocol.get(protocol) ?? new Set<string>();
    const after = new Set(ips);
    for (const ip of before) if (!after.has(ip)) this.dropAnnounced(service, protocol, ip);
    for (const ip of after) this.announced.set({ service, protocol, node: this.node, ip }, 1);
    byProtocol.set(protocol, after);
  }

  /** `service` is no longer announced over `protocol` (or over any protocol when omitted). */
  withdrawn(service: string, protocol?: Protocol): void {
    const byProtocol = this.announcedByService.get(service);
    if (!byProtocol) return;
    for (const [p, ips] of [...byProtocol]) {
      if (protocol && p !== protocol) continue;
      for (const ip of ips) this.dropAnnounced(service, p, ip);
      byProtocol.delete(p);
    }
    if (byProtocol.size === 0) this.announcedByService.delete(service);
  }

  /** The Service was deleted: every series naming it goes (and the layer2 counters of VIPs nobody announces now). */
  removeService(service: string): void {
    this.withdrawn(service);
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

  /** The peer was removed from the config (or no longer selects this node): its series go. */
  removePeer(peer: string): void {
    this.bgpSessionUp.remove({ peer });
    this.bgpUpdates.remove({ peer });
    this.bgpAnnouncedPrefixes.remove({ peer });
    this.peers.delete(peer);
  }

  /** Keep only the series of these peers (call after a config change). */
  retainPeers(peers: Iterable<string>): void {
    const keep = new Set(peers);
    for (const peer of [...this.peers]) if (!keep.has(peer)) this.removePeer(peer);
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
  }

  private dropAnnounced(service: string, protocol: Protocol, ip: string): void {
    this.announced.remove({ service, protocol, node: this.node, ip });
    if (protocol === 'layer2' && !this.layer2Announces(ip, service)) this.removeLayer2Ip(ip);
  }

  /** Whether a Service other than `except` still announces `ip` over layer2 (shared VIPs). */
  private layer2Announces(ip: string, except: string): boolean {
    for (const [service, byProtocol] of this.announcedByService) {
      if (service !== except && byProtocol.get('layer2')?.has(ip)) return true;
    }
    return false;
  }
}
