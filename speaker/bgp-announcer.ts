// The BGP side of the Announcer interface: one BgpSession per configured peer whose node-selectors
// match this Node's labels, and one route table shared by all of them. Services change routes
// through the table's deltas (incremental UPDATEs, never a session reset); a change of one peer's
// config replaces only that peer's session; a label change starts or stops only the sessions whose
// selection changed.
import type { AddressPool, BfdProfile, Config, Peer } from '../config/model.js';
import { matchesNode } from '../config/selectors.js';
import type { Logger } from '../kube/log.js';
import { BgpSession, type BgpSessionConfig, type RouteAttributes, type SessionLogEvent, type SocketLike } from '../protocols/bgp/index.js';
import type { BgpListener, ListenerPeer } from '../protocols/bgp/listener.js';
import { ipv6NextHopFor, type Ipv6NextHop } from '../protocols/bgp/ipv6-next-hop.js';
import { BgpResources } from '../protocols/bgp/resources.js';
import { connect as tcpConnect, sessionTtl, tcpMd5Support, type ConnectOptions } from '../protocols/bgp/transport.js';
import { systemClock, type Clock } from '../protocols/clock.js';
import { followRouter, type RouterLinkHandle, type StartRouterLink } from '../protocols/bgp/unnumbered.js';
import { startRouterLink } from '../protocols/ndp/router-link.js';
import type { AnnounceDecider, AnnounceReason, WithdrawReason } from './announcer.js';
import { BfdPeers, type OpenBfdEndpoint } from './bfd-peers.js';
import { sameRoute, serviceRoutes, type BgpRoute } from './bgp-advertisements.js';
import { anyPeerScoped, bgpAdvertisementsFor } from '../config/advertisement-scope.js';
import { BgpRouteTable, type RouteDelta } from './bgp-route-table.js';
import type { SpeakerMetrics } from './metrics.js';
import type { EndpointsView, ServiceView } from './service-view.js';
import type { DaemonAnnouncer } from './speaker.js';

export interface BgpAnnouncerOptions {
  decide: AnnounceDecider;
  node: string;
  log: Logger;
  metrics?: SpeakerMetrics;
  clock?: Clock;
  /** Opens the TCP connection to a peer (default: `transport` with the peer's connect options). */
  connect?: (peer: Peer) => SocketLike;
  /**
   * The transport the default `connect` uses (default: protocols/bgp/transport.ts): it gets the
   * peer's source address, TCP-MD5 password and TTL (1 for eBGP, 255 with ebgp-multihop).
   */
  transport?: (options: ConnectOptions) => SocketLike;
  /** IPv6 next hop for IPv6 routes over IPv4 sessions (default: the session interface's global IPv6 address). */
  ipv6NextHop?: (localIpv4: string) => Ipv6NextHop;
  /**
   * Passive side (`herald speaker --bgp-listen`): peers of this node may also connect in; each
   * connection goes to that peer's session (collisions with our own connection resolved by BGP
   * Identifier, RFC 4271 §6.8). Closed on shutdown.
   */
  listener?: Pick<BgpListener, 'setPeers' | 'close'>;
  /** Offer graceful restart (RFC 4724) with this restart time; on shutdown, peers that negotiated it keep our routes. */
  gracefulRestartSeconds?: number;
  /** Counters shared with the listener (sockets, refusals, destroys); exported as metrics. Default: its own. */
  resources?: BgpResources;
  /** Opens BFD endpoints for peers with a bfd-profile (default: the UDP addon on 3784/4784). */
  openBfdEndpoint?: OpenBfdEndpoint;
  /**
   * Unnumbered peers (`interface`): learns the router's link-local address on the interface from its
   * Router Advertisements and advertises ours (default: protocols/ndp/router-link.ts).
   */
  startRouterLink?: StartRouterLink;
  /** Per-session limits (tests and benchmarks): queued-byte cap, close grace, back-off. */
  sessionLimits?: Pick<BgpSessionConfig, 'maxQueuedBytes' | 'closeGraceMs' | 'connectRetry'>;
}

interface PeerSession {
  peer: Peer;
  /** Which routes this session gets: its route table's key (routeView). */
  view: string;
  /** The peer's config as JSON (configKeyOf): a different one means "reset this session". */
  configKey: string;
  session: BgpSession;
}

/** Sessions are keyed by where they go. */
function peerKey(peer: Peer): string {
  return `${peer.peerAddress}:${peer.peerPort}`;
}

/** FRR's default restart time, for a peer with enableGracefulRestart on a speaker without --graceful-restart. */
export const DEFAULT_RESTART_TIME = 120;

/**
 * The graceful restart time offered to `peer`, or undefined for none: the speaker's --graceful-restart
 * offers it to every peer (with its time); a BGPPeer's enableGracefulRestart offers it to that peer too
 * (with --graceful-restart's time when set, else FRR's 120 s). The field can add, never remove.
 */
export function gracefulRestartTime(flagSeconds: number | undefined, peer: Peer): number | undefined {
  if (flagSeconds !== undefined) return flagSeconds;
  return peer.enableGracefulRestart ? DEFAULT_RESTART_TIME : undefined;
}

/**
 * What, when it changes, resets a peer's BGP session: everything but its bfd-profile (BFD follows on
 * its own) and its name (it only picks the routes the session gets: sent as a difference, no reset).
 */
function configKeyOf(peer: Peer): string {
  return JSON.stringify({ ...peer, bfdProfile: undefined, name: undefined });
}

/** How the speaker connects to a peer: its source address, TCP-MD5 key and TTL, as the ConfigMap says. */
export function peerConnectOptions(peer: Peer, ttlSupported = true): ConnectOptions {
  const o: ConnectOptions = { peerAddress: peer.peerAddress, peerPort: peer.peerPort };
  if (peer.sourceAddress !== undefined) o.sourceAddress = peer.sourceAddress;
  if (peer.password !== undefined) o.password = peer.password;
  const ttl = sessionTtl(peer.myAsn, peer.peerAsn, peer.ebgpMultihop);
  if (ttl !== undefined && ttlSupported) o.ttl = ttl;
  return o;
}

function attributes(route: BgpRoute): RouteAttributes {
  const attrs: RouteAttributes = {};
  if (route.localPref !== undefined) attrs.localPref = route.localPref;
  if (route.communities.length) attrs.communities = route.communities;
  if (route.largeCommunities.length) attrs.largeCommunities = route.largeCommunities;
  return attrs;
}

const BGP_HEADER_LENGTH = 19;
const BGP_UPDATE = 2;

/**
 * herald_bgp_updates_total counts UPDATE messages on the wire: the session writes whole messages
 * (packed several to a chunk), so the headers of each written chunk say how many were UPDATEs.
 */
export function countUpdates<S extends SocketLike>(socket: S, counted: (n: number) => void): S {
  const write = socket.write.bind(socket);
  socket.write = (data: Uint8Array): boolean => {
    let n = 0;
    for (let off = 0; off + BGP_HEADER_LENGTH <= data.length; ) {
      const length = (data[off + 16] << 8) | data[off + 17];
      if (length < BGP_HEADER_LENGTH) break;
      if (data[off + 18] === BGP_UPDATE) n++;
      off += length;
    }
    if (n > 0) counted(n);
    return write(data);
  };
  return socket;
}

/** What a Service is announced with: kept so that the routes can be recomputed per view. */
interface Balancer {
  ips: readonly string[];
  pool: AddressPool;
}

export class BgpAnnouncer implements DaemonAnnouncer {
  readonly protocol = 'bgp' as const;
  /**
   * One route table per view: '' when no BGPAdvertisement of the config names peers (every peer gets
   * the same routes: one table, as with the ConfigMap), else one per peer name ('peer:NAME'; a peer
   * without a name gets the advertisements that name no peers).
   */
  private tables = new Map<string, BgpRouteTable>();
  private readonly balancers = new Map<string, Balancer>();
  private pools = new Map<string, AddressPool>();
  private peerScoped = false;
  private readonly sessions = new Map<string, PeerSession>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private peers: Peer[] = [];
  private bfdProfiles = new Map<string, BfdProfile>();
  /** BFD for peers with a bfd-profile: it holds a peer's BGP session down while BFD says the path is dead. */
  readonly bfd: BfdPeers;
  private labels: Record<string, string> = {};
  /** Unnumbered peers' interfaces: the router link and the router's session address (`fe80::x%if`) once known. */
  private readonly routerLinks = new Map<string, { link: RouterLinkHandle; peerAddress: string | undefined }>();
  private configured = false;
  private started = false;
  private closed = false;
  readonly resources: BgpResources;

  constructor(private readonly opts: BgpAnnouncerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.resources = opts.resources ?? new BgpResources();
    opts.metrics?.watchBgpResources({ resources: this.resources, queuedBytes: () => this.queuedBytes() });
    this.bfd = new BfdPeers({ clock: this.clock, log: this.log, metrics: opts.metrics, open: opts.openBfdEndpoint, onHoldChange: () => this.reconcileSessions() });
  }

  /** Bytes queued towards each peer (the herald_bgp_queued_bytes gauge). */
  *queuedBytes(): Iterable<[string, number]> {
    for (const s of this.sessions.values()) yield [s.peer.peerAddress, s.session.queuedBytes];
  }

  /** Peers with a session now (peer addresses). */
  activePeers(): string[] {
    return [...this.sessions.values()].map((s) => s.peer.peerAddress);
  }

  start(): void {
    this.started = true;
    this.reconcileSessions();
  }

  setConfig(config: Config): void {
    this.peers = config.peers;
    this.bfdProfiles = new Map(config.bfdProfiles.map((b) => [b.name, b]));
    this.pools = new Map(config.pools.map((p) => [p.name, p]));
    this.peerScoped = anyPeerScoped(config.pools);
    this.configured = true;
    this.rebuild();
    this.reconcileSessions();
  }

  nodeLabelsChanged(labels: Record<string, string>): void {
    this.labels = labels;
    this.rebuild();
    this.reconcileSessions();
  }

  /** The routes a session to `peer` gets: its table's key. */
  private viewOf(peer: Peer): string {
    return this.peerScoped ? `peer:${peer.name ?? ''}` : '';
  }

  /** The routes of one Service in one view: the pool's advertisements that select this node and go to the view's peer. */
  private routesFor(view: string, b: Balancer): BgpRoute[] {
    const peer = view === '' ? undefined : view.slice('peer:'.length) || undefined;
    const ads = bgpAdvertisementsFor(b.pool, this.labels, peer);
    // Without peer scoping every advertisement names no peer, so `peer` undefined selects them all.
    return ads.length === b.pool.bgpAdvertisements.length ? serviceRoutes(b.ips, b.pool) : serviceRoutes(b.ips, { ...b.pool, bgpAdvertisements: ads });
  }

  private tableFor(view: string): BgpRouteTable {
    let table = this.tables.get(view);
    if (!table) {
      table = new BgpRouteTable();
      for (const [name, b] of this.balancers) table.set(name, this.routesFor(view, b));
      this.tables.set(view, table);
    }
    return table;
  }

  /**
   * Recompute every view after a config or label change (pools may advertise otherwise now, a session's
   * view may change) and send each session only the difference: no session reset.
   */
  private rebuild(): void {
    for (const [name, b] of this.balancers) {
      const pool = this.pools.get(b.pool.name);
      if (pool) this.balancers.set(name, { ips: b.ips, pool });
    }
    const old = this.tables;
    this.tables = new Map();
    for (const [key, s] of this.sessions) {
      const before = new Map((old.get(s.view)?.routes() ?? []).map((r) => [r.prefix, r]));
      // The same session under the new config (a session to be reset keeps its old peer until then).
      const same = this.peers.find((p) => peerKey(p) === key && configKeyOf(p) === s.configKey);
      if (same) s.peer = same;
      s.view = this.viewOf(s.peer);
      const after = this.tableFor(s.view).routes();
      const delta: RouteDelta = { advertise: [], withdraw: [] };
      for (const r of after) {
        const was = before.get(r.prefix);
        if (!was || !sameRoute(was, r)) delta.advertise.push(r);
        before.delete(r.prefix);
      }
      delta.withdraw = [...before.keys()];
      this.send(s, delta);
    }
  }

  shouldAnnounce(service: ServiceView, ips: readonly string[], pool: AddressPool, endpoints: EndpointsView): AnnounceReason | null {
    return this.opts.decide(service, ips, pool, endpoints);
  }

  setBalancer(name: string, ips: readonly string[], pool: AddressPool): void {
    const b: Balancer = { ips, pool };
    this.balancers.set(name, b);
    for (const [view, table] of this.tables) this.apply(view, table.set(name, this.routesFor(view, b)));
  }

  deleteBalancer(name: string, _reason: WithdrawReason): void {
    this.balancers.delete(name);
    for (const [view, table] of this.tables) this.apply(view, table.delete(name));
  }

  /** Withdraw and Cease, except towards peers that negotiated graceful restart: they keep our routes for the restart. */
  async shutdown(): Promise<void> {
    this.closed = true;
    // No new connections while the sessions close.
    const listening = this.opts.listener?.close();
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        const graceful = gracefulRestartTime(this.opts.gracefulRestartSeconds, s.peer) !== undefined && s.session.negotiation?.peerGracefulRestart !== undefined && s.session.state === 'Established';
        if (!graceful) for (const route of this.tables.get(s.view)?.routes() ?? []) s.session.withdraw(route.prefix);
        this.log.info({ event: graceful ? 'gracefulRestartStop' : 'sessionStop', peer: s.peer.peerAddress }, graceful ? 'stopping with graceful restart: the peer keeps our routes' : 'withdrawing routes and closing');
        await s.session.stop('herald speaker shutting down', { gracefulRestart: graceful });
      }),
    );
    for (const s of this.sessions.values()) this.opts.metrics?.removePeer(s.peer.peerAddress);
    this.sessions.clear();
    this.syncRouterLinks(new Set());
    // After the BGP sessions: AdminDown tells the routers this is no path failure.
    this.bfd.close();
    await listening;
  }

  private apply(view: string, delta: RouteDelta): void {
    if (delta.advertise.length === 0 && delta.withdraw.length === 0) return;
    for (const s of this.sessions.values()) if (s.view === view) this.send(s, delta);
  }

  private send(s: PeerSession, delta: RouteDelta): void {
    if (delta.advertise.length === 0 && delta.withdraw.length === 0) return;
    for (const route of delta.advertise) s.session.announce(route.prefix, attributes(route));
    for (const prefix of delta.withdraw) s.session.withdraw(prefix);
    this.opts.metrics?.setAnnouncedPrefixes(s.peer.peerAddress, s.session.routeCount);
  }

  /**
   * Router links for the interfaces of this node's unnumbered peers (started and closed with the
   * config); each change of a router's address reconciles, which restarts only that peer's session.
   */
  private syncRouterLinks(interfaces: ReadonlySet<string>): void {
    for (const [ifname, r] of this.routerLinks) {
      if (interfaces.has(ifname) && !this.closed) continue;
      r.link.close();
      this.routerLinks.delete(ifname);
    }
    if (this.closed) return;
    for (const ifname of interfaces) {
      if (this.routerLinks.has(ifname)) continue;
      const entry: { link: RouterLinkHandle; peerAddress: string | undefined } = { link: { router: () => undefined, close: () => undefined }, peerAddress: undefined };
      this.routerLinks.set(ifname, entry);
      entry.link = followRouter(
        ifname,
        this.opts.startRouterLink ?? startRouterLink,
        (peerAddress) => {
          entry.peerAddress = peerAddress;
          this.log.info({ event: 'unnumberedRouter', peer: `%${ifname}`, reason: peerAddress ? `router ${peerAddress}` : 'no router' }, peerAddress ? `router on ${ifname}: ${peerAddress}` : `no router on ${ifname} now`);
          this.reconcileSessions();
        },
        this.log,
      );
    }
  }

  /** The peer with the address its session goes to: an unnumbered one only once its router is known. */
  private resolvePeer(peer: Peer): Peer | undefined {
    if (peer.interface === undefined) return peer;
    const peerAddress = this.routerLinks.get(peer.interface)?.peerAddress;
    return peerAddress === undefined ? undefined : { ...peer, peerAddress };
  }

  private reconcileSessions(): void {
    if (!this.started || !this.configured || this.closed) return;
    const mine = this.peers.filter((peer) => matchesNode(peer.nodeSelectors, this.labels));
    this.syncRouterLinks(new Set(mine.flatMap((p) => (p.interface === undefined ? [] : [p.interface]))));
    const wanted = new Map<string, Peer>();
    for (const peer of mine) {
      const resolved = this.resolvePeer(peer);
      if (resolved) wanted.set(peerKey(resolved), resolved);
    }
    const bfd: Array<{ key: string; peer: Peer; profile: BfdProfile }> = [];
    for (const [key, peer] of wanted) {
      const profile = peer.bfdProfile !== undefined ? this.bfdProfiles.get(peer.bfdProfile) : undefined;
      if (profile) bfd.push({ key, peer, profile });
    }
    // BFD first: a peer that loses its profile is no longer held.
    this.bfd.setPeers(bfd);
    for (const [key, s] of [...this.sessions]) {
      const next = wanted.get(key);
      const held = next !== undefined && this.bfd.held(key);
      if (next && !held && configKeyOf(next) === s.configKey) continue;
      this.sessions.delete(key);
      if (held) {
        // The path is dead: a NOTIFICATION would not arrive and a clean close would wait for it. FRR drops TCP too.
        this.log.warn({ event: 'sessionHeldByBfd', peer: s.peer.peerAddress, reason: 'BFD down' }, 'dropping the BGP session (no NOTIFICATION) until BFD is Up again');
        void s.session.stop('BFD down', { drop: true });
        this.opts.metrics?.setSessionUp(s.peer.peerAddress, false);
        continue;
      }
      const reason = next ? 'peer config changed' : s.peer.interface !== undefined ? `peer removed, no longer selects this node, or its router on ${s.peer.interface} changed address or went` : 'peer removed or no longer selects this node';
      this.log.info({ event: next ? 'sessionReset' : 'sessionRemoved', peer: s.peer.peerAddress, reason }, 'closing BGP session');
      void s.session.stop(next ? 'peer configuration changed' : 'peer deconfigured');
      if (!next || next.peerAddress !== s.peer.peerAddress) this.opts.metrics?.removePeer(s.peer.peerAddress);
    }
    for (const [key, peer] of wanted) {
      if (this.sessions.has(key) || this.bfd.held(key)) continue;
      this.sessions.set(key, this.startSession(peer));
    }
    this.opts.listener?.setPeers([...this.sessions.values()].map((s) => this.listenerPeer(s)));
    // A view no session uses any more is dropped (rebuilt from the balancers if a session needs it again).
    const used = new Set([...this.sessions.values()].map((s) => s.view));
    for (const view of this.tables.keys()) if (!used.has(view)) this.tables.delete(view);
  }

  /** What the listener needs to hand an incoming connection to this session. */
  private listenerPeer(s: PeerSession): ListenerPeer {
    const address = s.peer.peerAddress;
    const p: ListenerPeer = {
      address,
      accept: (socket) => s.session.acceptIncoming(countUpdates(socket, (n) => this.opts.metrics?.updateSent(address, n))),
    };
    if (s.peer.password !== undefined) p.password = s.peer.password;
    if (s.peer.sourceAddress !== undefined) p.sourceAddress = s.peer.sourceAddress;
    return p;
  }

  private ttlChecked: boolean | undefined;

  /**
   * Setting the TTL needs the socket addon; without it (and with the default transport) eBGP
   * sessions go out with the system default TTL, said once in the log, rather than not at all.
   */
  private ttlSupported(): boolean {
    if (this.ttlChecked !== undefined) return this.ttlChecked;
    if (this.opts.transport) return (this.ttlChecked = true);
    const support = tcpMd5Support();
    this.ttlChecked = support.ok;
    if (!support.ok) this.log.warn({ event: 'ttlUnavailable', reason: support.reason }, 'cannot set the eBGP TTL (1, or 255 with ebgp-multihop): using the system default');
    return this.ttlChecked;
  }

  private startSession(peer: Peer): PeerSession {
    const config: BgpSessionConfig = {
      localAs: peer.myAsn,
      peerAs: peer.peerAsn,
      peerAddress: peer.peerAddress,
      peerPort: peer.peerPort,
      holdTime: peer.holdTime,
      keepaliveTime: peer.keepaliveTime,
      nodeName: this.opts.node,
      ebgpMultihop: peer.ebgpMultihop,
      // RFC 8654: offered to every peer; used only when the peer offers it too.
      extendedMessages: true,
    };
    // Unnumbered: IPv4 routes go with our IPv6 next hop (RFC 8950).
    if (peer.interface !== undefined) config.extendedNextHop = true;
    if (peer.sourceAddress !== undefined) config.sourceAddress = peer.sourceAddress;
    if (peer.routerId !== undefined) config.routerId = peer.routerId;
    if (peer.password !== undefined) config.password = peer.password;
    const restartTime = gracefulRestartTime(this.opts.gracefulRestartSeconds, peer);
    if (restartTime !== undefined) config.gracefulRestart = { restartTime };
    if (peer.connectTime !== undefined) config.connectRetry = { minMs: peer.connectTime * 1000, maxMs: peer.connectTime * 1000 };
    if (peer.disableMp) config.families = [peer.peerAddress.includes(':') ? 'ipv6' : 'ipv4'];
    Object.assign(config, this.opts.sessionLimits);
    const address = peer.peerAddress;
    const log = (e: SessionLogEvent): void => {
      const { level, event, msg, peer: _peer, ...fields } = e;
      this.log[level]({ event, peer: address, ...fields }, msg);
    };
    const metrics = this.opts.metrics;
    const open = this.opts.connect ? () => this.opts.connect!(peer) : () => (this.opts.transport ?? tcpConnect)(peerConnectOptions(peer, this.ttlSupported()));
    const connect = (): SocketLike => countUpdates(open(), (n) => metrics?.updateSent(address, n));
    const session = new BgpSession(config, { clock: this.clock, connect, log, resources: this.resources, ipv6NextHop: this.opts.ipv6NextHop ?? ((local) => ipv6NextHopFor(local)) });
    metrics?.setSessionUp(address, false);
    session.on('state', (_from: string, to: string) => metrics?.setSessionUp(address, to === 'Established'));
    session.on('established', (n) => {
      metrics?.setPeerAsn(address, n.peerAs);
      const learned = typeof peer.peerAsn === 'number' ? '' : ` (learned: dynamic-asn ${peer.peerAsn})`;
      const relation = n.peerAs === peer.myAsn ? 'iBGP' : 'eBGP';
      const reason = `AS ${n.peerAs}${learned}, ${relation}, extended messages ${n.extendedMessages ? 'on' : 'off'}, families ${n.families.join('+')}`;
      this.log.info({ event: 'sessionEstablished', peer: address, reason }, `BGP session established with AS ${n.peerAs}${learned}`);
    });
    session.on('error', (err: Error) => this.log.warn({ event: 'sessionError', peer: address, err }, 'BGP session error'));
    const view = this.viewOf(peer);
    for (const route of this.tableFor(view).routes()) session.announce(route.prefix, attributes(route));
    metrics?.setAnnouncedPrefixes(address, session.routeCount);
    this.log.info({ event: 'sessionStart', peer: address, reason: `AS ${peer.myAsn} -> ${typeof peer.peerAsn === 'number' ? `AS ${peer.peerAsn}` : `dynamic-asn ${peer.peerAsn}`}` }, 'starting BGP session');
    session.start();
    return { peer, view, configKey: configKeyOf(peer), session };
  }
}
