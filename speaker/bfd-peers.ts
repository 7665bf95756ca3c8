// BFD for the speaker's BGP peers: one BFD session (RFC 5881 single hop, or RFC 5883 multihop for
// ebgp-multihop peers) per BGP peer with a `bfd-profile`, from the BGP session's source address,
// with the profile's timers. It decides one thing for the BGP announcer: whether a peer's BGP
// session is held down. It is held from the moment BFD goes Down after having been Up until BFD
// is Up again (FRR's rule: a BFD session that never came up holds nothing, so a router without BFD
// configured still gets its BGP session). A Down the peer signalled as AdminDown holds nothing either
// (RFC 5882 §3.2: an administrative disable says nothing about the path).
// Endpoints (UDP sockets) are opened only when a peer needs them and closed when none does; a
// failure to open one is logged and retried, and its peers run BGP unguarded meanwhile.
import net from 'node:net';
import type { BfdProfile, Peer } from '../config/model.js';
import type { Logger } from '../kube/log.js';
import { diagName } from '../protocols/bfd/packet.js';
import type { BfdSession, BfdStateChange } from '../protocols/bfd/session.js';
import { BfdEndpoint, type BfdEndpointOptions, type BfdPeer } from '../protocols/bfd/transport.js';
import type { Clock, TimerHandle } from '../protocols/clock.js';
import type { SpeakerMetrics } from './metrics.js';

/** What the speaker needs of an endpoint (protocols/bfd/transport.ts; tests give an in-memory one). */
export type BfdEndpointLike = Pick<BfdEndpoint, 'addPeer' | 'removePeer' | 'close'>;
export type OpenBfdEndpoint = (opts: BfdEndpointOptions) => BfdEndpointLike;

/** One BGP peer that runs BFD: `key` is the BGP session's key in the announcer. */
export interface BfdPeerSpec {
  key: string;
  peer: Peer;
  profile: BfdProfile;
}

export interface BfdPeersOptions {
  clock: Clock;
  log: Logger;
  metrics?: SpeakerMetrics;
  /** Default: BfdEndpoint.open (the UDP addon). */
  open?: OpenBfdEndpoint;
  /** A peer's hold changed (BFD went down after Up, or came back Up): the announcer reconciles its sessions. */
  onHoldChange: (key: string) => void;
  /** Retry opening an endpoint after this long (default 10 s). */
  retryMs?: number;
}

interface Running {
  spec: BfdPeerSpec;
  bfdPeer: BfdPeer;
  endpointKey: string;
  session: BfdSession;
  /** What, when changed, needs a new session (the rest are timers, changed in place through a poll sequence). */
  identity: string;
  everUp: boolean;
  held: boolean;
}

interface Endpoint {
  endpoint: BfdEndpointLike;
  family: 4 | 6;
  multihop: boolean;
  minTtl: number;
}

/** The endpoint a peer's session lives on: family, hop mode, and for multihop the lowest TTL accepted. */
function endpointKeyOf(spec: BfdPeerSpec): string {
  const family = net.isIP(spec.peer.peerAddress);
  return spec.peer.ebgpMultihop ? `${family}/multihop/${spec.profile.minimumTtl}` : `${family}/single`;
}

function bfdPeerOf(spec: BfdPeerSpec): BfdPeer {
  const p: BfdPeer = {
    peerAddress: spec.peer.peerAddress,
    transmitIntervalMs: spec.profile.transmitInterval,
    receiveIntervalMs: spec.profile.receiveInterval,
    detectMultiplier: spec.profile.detectMultiplier,
  };
  // The BGP session's source address: the BFD packets leave from (and must arrive at) the same one.
  if (spec.peer.sourceAddress !== undefined) p.localAddress = spec.peer.sourceAddress;
  if (spec.profile.passiveMode) p.passive = true;
  return p;
}

export class BfdPeers {
  private readonly running = new Map<string, Running>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly byPeer = new Map<BfdPeer, Running>();
  private wanted = new Map<string, BfdPeerSpec>();
  private retryTimer: TimerHandle | null = null;
  private closed = false;

  constructor(private readonly opts: BfdPeersOptions) {}

  /** Whether the BGP session `key` must stay down (BFD went down after Up and is not Up again). */
  held(key: string): boolean {
    return this.running.get(key)?.held === true;
  }

  /** The BFD state of a peer's session, or undefined when it runs no BFD. */
  state(key: string): string | undefined {
    return this.running.get(key)?.session.state;
  }

  /** The BGP peers that run BFD now (after a config or label change). Unchanged peers keep their sessions. */
  setPeers(specs: readonly BfdPeerSpec[]): void {
    if (this.closed) return;
    this.wanted = new Map(specs.map((s) => [s.key, s]));
    for (const [key, r] of [...this.running]) {
      const next = this.wanted.get(key);
      if (next && this.identity(next) === r.identity) {
        if (JSON.stringify(next.profile) !== JSON.stringify(r.spec.profile)) this.retime(r, next);
        continue;
      }
      this.stopSession(r, next ? 'BFD settings changed' : 'peer removed or has no bfd-profile now');
    }
    this.startMissing();
    this.closeUnused();
  }

  /** AdminDown to every peer (so routers do not take our shutdown for a failure), then the sockets close. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const e of this.endpoints.values()) e.endpoint.close(true);
    this.endpoints.clear();
    for (const r of this.running.values()) this.opts.metrics?.removeBfdPeer(r.spec.peer.peerAddress);
    this.running.clear();
    this.byPeer.clear();
  }

  private identity(spec: BfdPeerSpec): string {
    return JSON.stringify([endpointKeyOf(spec), spec.peer.peerAddress, spec.peer.sourceAddress ?? null, spec.profile.passiveMode]);
  }

  /** New intervals or multiplier on a running session: through a poll sequence (RFC 5880 §6.8.3), no reset. */
  private retime(r: Running, next: BfdPeerSpec): void {
    r.spec = next;
    r.session.setTimers({ transmitIntervalMs: next.profile.transmitInterval, receiveIntervalMs: next.profile.receiveInterval, detectMultiplier: next.profile.detectMultiplier });
    const fields = { event: 'bfdRetimed', peer: next.peer.peerAddress, profile: next.profile.name, transmitMs: next.profile.transmitInterval, receiveMs: next.profile.receiveInterval, multiplier: next.profile.detectMultiplier };
    this.opts.log.info(fields, 'BFD timers changed (applied by a poll sequence)');
  }

  private startMissing(): void {
    let failed = false;
    for (const [key, spec] of this.wanted) {
      if (this.running.has(key)) continue;
      const endpointKey = endpointKeyOf(spec);
      const ep = this.endpoint(endpointKey, spec);
      if (!ep) {
        failed = true;
        continue;
      }
      const bfdPeer = bfdPeerOf(spec);
      let session: BfdSession;
      try {
        session = ep.endpoint.addPeer(bfdPeer);
      } catch (e) {
        this.opts.log.warn({ event: 'bfdSessionError', peer: spec.peer.peerAddress, err: e }, 'cannot start the BFD session: BGP runs without BFD to this peer');
        continue;
      }
      const r: Running = { spec, bfdPeer, endpointKey, session, identity: this.identity(spec), everUp: false, held: false };
      this.running.set(key, r);
      this.byPeer.set(bfdPeer, r);
      this.opts.metrics?.setBfdUp(spec.peer.peerAddress, false);
      const fields = { event: 'bfdStart', peer: spec.peer.peerAddress, profile: spec.profile.name, multihop: ep.multihop, transmitMs: spec.profile.transmitInterval, receiveMs: spec.profile.receiveInterval, multiplier: spec.profile.detectMultiplier, passive: spec.profile.passiveMode };
      this.opts.log.info(fields, 'starting BFD session');
    }
    if (failed && !this.retryTimer && !this.closed) {
      this.retryTimer = this.opts.clock.setTimeout(() => {
        this.retryTimer = null;
        this.startMissing();
      }, this.opts.retryMs ?? 10_000);
    }
  }

  private endpoint(key: string, spec: BfdPeerSpec): Endpoint | null {
    const have = this.endpoints.get(key);
    if (have) return have;
    const family = net.isIP(spec.peer.peerAddress) as 4 | 6;
    const multihop = spec.peer.ebgpMultihop;
    const options: BfdEndpointOptions = {
      family,
      multihop,
      clock: this.opts.clock,
      log: this.opts.log,
      onStateChange: (peer, change) => this.onStateChange(peer, change),
    };
    if (multihop) options.minTtl = spec.profile.minimumTtl;
    try {
      const e: Endpoint = { endpoint: (this.opts.open ?? BfdEndpoint.open)(options), family, multihop, minTtl: options.minTtl ?? 255 };
      this.endpoints.set(key, e);
      return e;
    } catch (err) {
      const fields = { event: 'bfdListenError', family, multihop, err };
      this.opts.log.warn(
        fields,
        `cannot open the BFD ${multihop ? 'multihop (UDP 4784)' : 'single hop (UDP 3784)'} socket: its peers run BGP without BFD; retrying in ${(this.opts.retryMs ?? 10_000) / 1000} s`,
      );
      return null;
    }
  }

  private stopSession(r: Running, reason: string): void {
    const ep = this.endpoints.get(r.endpointKey);
    // AdminDown first: the router does not take a reconfiguration for a path failure.
    ep?.endpoint.removePeer(r.bfdPeer.peerAddress, r.bfdPeer.localAddress, true);
    this.running.delete(r.spec.key);
    this.byPeer.delete(r.bfdPeer);
    this.opts.metrics?.removeBfdPeer(r.spec.peer.peerAddress);
    // A hold ends with its session; setPeers' caller (the announcer's reconcile) reads held() afterwards.
    this.opts.log.info({ event: 'bfdStop', peer: r.spec.peer.peerAddress, reason }, 'stopping BFD session');
  }

  private closeUnused(): void {
    const used = new Set([...this.running.values()].map((r) => r.endpointKey));
    for (const [key, e] of [...this.endpoints]) {
      if (used.has(key)) continue;
      e.endpoint.close(true);
      this.endpoints.delete(key);
    }
  }

  private onStateChange(peer: BfdPeer, c: BfdStateChange): void {
    const r = this.byPeer.get(peer);
    if (!r) return;
    const address = peer.peerAddress;
    const metrics = this.opts.metrics;
    metrics?.bfdTransition(address, c.to, c.to === 'Up');
    if (c.silentMs !== undefined) metrics?.setBfdDetection(address, c.silentMs / 1000);
    const fields = { event: 'bfdState', peer: address, from: c.from, to: c.to, diag: diagName(c.diag), remoteDiag: diagName(c.remoteDiag), ...(c.silentMs !== undefined ? { silentMs: Math.round(c.silentMs), detectTimeMs: c.detectTimeMs } : {}) };
    if (c.to === 'Up') {
      r.everUp = true;
      this.opts.log.info(fields, `BFD session to ${address} is Up`);
      if (r.held) {
        r.held = false;
        this.opts.log.info({ event: 'bfdRelease', peer: address }, 'BFD is Up again: the BGP session may reconnect');
        this.opts.onHoldChange(r.spec.key);
      }
      return;
    }
    if (c.to === 'AdminDown' || c.from !== 'Up') {
      // AdminDown is ours (the session is being removed); Down -> Init and the like change nothing for BGP.
      this.opts.log.info(fields, `BFD session to ${address}: ${c.from} -> ${c.to}`);
      return;
    }
    // Up -> Down.
    if (r.session.remoteSessionState === 'AdminDown') {
      this.opts.log.warn(fields, `BFD session to ${address} is Down: the peer disabled it (AdminDown); the BGP session stays (RFC 5882 §3.2)`);
      return;
    }
    this.opts.log.warn(fields, `BFD session to ${address} is Down (${diagName(c.diag)}): dropping the BGP session until BFD is Up again`);
    if (!r.held && r.everUp) {
      r.held = true;
      this.opts.onHoldChange(r.spec.key);
    }
  }
}
