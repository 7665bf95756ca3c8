// The layer2 announcer: answers ARP requests and Neighbor Solicitations for the VIPs this node owns,
// on every selected interface, and sends a gratuitous burst when a VIP is announced (or an
// interface appears) so neighbours switch to us at once. Pure decisions over a Layer2Io and a Clock.
import { isIPv4, isIPv6 } from 'node:net';
import { gratuitousArpFrames } from '../arp/frames.js';
import { parseIpv4 } from '../arp/ipv4-address.js';
import { ARP_FRAME_LENGTH, ARP_REQUEST_OP, arpOperation, isUnusableSenderIpv4, SENDER_IP_OFFSET, SENDER_MAC_OFFSET, TARGET_IP_OFFSET, writeArpReply } from '../arp/reply.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_ARP, ETHERTYPE_IPV6 } from '../rawio/ethernet.js';
import { formatMac, isBroadcastMac, isUnusableSourceMac, macEquals } from '../rawio/mac.js';
import { unsolicitedAdvertisementFrame } from '../ndp/frames.js';
import { formatIpv6, parseIpv6 } from '../ndp/ipv6-address.js';
import { solicitedNodeAddress } from '../ndp/multicast.js';
import {
  icmpv6Offset,
  ipv6SourceKind,
  isSolicitedNodeDestination,
  NA_FRAME_LENGTH,
  ndpLinkLayerOffset,
  NS_WITHOUT_LINK_LAYER,
  SOURCE_OFFSET,
  writeSolicitedAdvertisement,
} from '../ndp/solicitation.js';
import type { Layer2Io, Layer2Port, LinkInfo } from './io.js';

/** Per-VIP counters (monotonic for the process lifetime, also across withdraw/announce). */
export interface VipCounters {
  requestsReceived: number;
  responsesSent: number;
  gratuitousSent: number;
  /** Frames from another MAC claiming the VIP (ARP sender, NA target, NS source). */
  conflicts: number;
}

/** Why a well-formed request was dropped unanswered. */
export type DropReason =
  /** Ethernet source, ARP sender or link-layer option MAC is multicast, broadcast or zero. */
  | 'sender-mac'
  /** ARP sender IP or IPv6 source no neighbour can have (loopback, multicast, broadcast, IPv4-mapped). */
  | 'sender-ip'
  /** An NS from :: carrying a source link-layer option (RFC 4861 §7.1.1). */
  | 'unspecified-with-link-layer'
  /** A DAD probe (NS from ::) not sent to the target's solicited-node group (RFC 4861 §7.1.1). */
  | 'dad-destination';

export const DROP_REASONS: readonly DropReason[] = ['sender-mac', 'sender-ip', 'unspecified-with-link-layer', 'dad-destination'];

/** Another host claims a VIP we announce (RFC 5227 §2.4 / RFC 4861 §7.2.5 conflict). */
export interface AddressConflict {
  vip: string;
  interface: string;
  /** The other host's MAC, `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** How it claimed it: an ARP packet with the VIP as sender, an NA for it, an NS from it. */
  how: 'arp' | 'na' | 'ns-source';
  /** Whether we sent the one defensive announcement (at most one per DEFEND_INTERVAL_MS per VIP). */
  defended: boolean;
}

/** RFC 5227's DEFEND_INTERVAL: at most one defensive announcement per VIP in this time. */
export const DEFEND_INTERVAL_MS = 10_000;

/** Counters not tied to a VIP. */
export interface GlobalCounters {
  /** Received frames that are not a well-formed ARP request or NS (never answered). */
  invalidFrames: number;
  /** Frames we built but could not send (queue full or link error). */
  sendFailures: number;
  /** Requests the kernel dropped before we read them (our receive queue was full). */
  receiveDrops: number;
  /** Well-formed requests dropped unanswered, by reason. */
  dropped: Record<DropReason, number>;
  /** Answers and gratuitous frames held back because mayAnswer() said no (the speaker was fenced). */
  notAnswering: number;
}

/** A VIP's lifecycle: the gratuitous burst runs while `bursting`; withdrawn VIPs are removed. */
type VipPhase = { kind: 'bursting'; roundsLeft: number; timer: TimerHandle } | { kind: 'steady' };

interface Vip {
  /** Canonical text (map key). */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly bytes: Buffer;
  phase: VipPhase;
  readonly counters: VipCounters;
  /** Clock time of our last defensive announcement (RFC 5227 §2.4), or -Infinity. */
  lastDefence: number;
  /** Answer only on these interfaces (MetalLB's L2Advertisement.interfaces); undefined: on every one. */
  only: ReadonlySet<string> | undefined;
}

interface Port {
  readonly link: LinkInfo;
  readonly io: Layer2Port;
  /** Solicited-node groups joined, by hex, with the number of VIPs needing each. */
  readonly groups: Map<string, number>;
  /** Reused for ARP replies and NAs (send copies the frame into the kernel synchronously). */
  readonly scratch4: Buffer;
  readonly scratch6: Buffer;
}

export interface AnnouncerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const silentLog: AnnouncerLog = { info: () => {}, warn: () => {}, debug: () => {} };

export interface AnnouncerOptions {
  io: Layer2Io;
  clock?: Clock;
  /** Gratuitous rounds per announce, the first one immediately (default 6: now and every second for 5 s). */
  garpCount?: number;
  /** Milliseconds between gratuitous rounds (default 1000). */
  garpIntervalMs?: number;
  log?: AnnouncerLog;
  /** Called for each conflicting frame (the speaker raises an Event; the log line here is rate-limited). */
  onConflict?: (c: AddressConflict) => void;
  /**
   * Asked before every answer and gratuitous frame; false: stay silent (counted as `notAnswering`).
   * The caller's fencing, read when needed rather than pushed: a process resumed after a freeze
   * reads its queued requests before any timer could have withdrawn its VIPs.
   */
  mayAnswer?: () => boolean;
  /**
   * The level of the lines per VIP announced, withdrawn or moved to other interfaces (default info).
   * The speaker logs each Service itself (a run of many in one line), so its 100,000 VIPs would
   * otherwise log 100,000 lines in one turn at a shutdown or a fence: it passes debug.
   */
  vipLogLevel?: 'info' | 'debug';
}

/** A VIP string that is neither IPv4 nor IPv6. */
export class VipError extends Error {
  readonly input: string;
  constructor(input: string) {
    super(`not an IP address: ${JSON.stringify(input)}`);
    this.name = 'VipError';
    this.input = input;
  }
}

/** Canonical text and family of a VIP; throws VipError. */
export function parseVip(ip: string): { ip: string; family: 4 | 6; bytes: Buffer } {
  if (isIPv4(ip)) {
    const bytes = parseIpv4(ip);
    return { ip: [...bytes].join('.'), family: 4, bytes };
  }
  if (isIPv6(ip) && !ip.includes('%')) {
    const bytes = parseIpv6(ip);
    return { ip: formatIpv6(bytes), family: 6, bytes };
  }
  throw new VipError(ip);
}

function sameLink(a: LinkInfo, b: LinkInfo): boolean {
  return a.name === b.name && macEquals(a.mac, b.mac);
}

export class Announcer {
  private readonly io: Layer2Io;
  private readonly clock: Clock;
  private readonly garpCount: number;
  private readonly garpIntervalMs: number;
  private readonly log: AnnouncerLog;
  private readonly vipLogLevel: 'info' | 'debug';
  private readonly vips = new Map<string, Vip>();
  /** IPv4 VIPs by address as an unsigned 32-bit number: the ARP hot path's lookup. */
  private readonly vips4 = new Map<number, Vip>();
  /** IPv6 VIPs by the hex of their 16 bytes: the NDP hot path's lookup. */
  private readonly vips6 = new Map<string, Vip>();
  private readonly ports = new Map<string, Port>();
  private readonly allCounters = new Map<string, VipCounters>();
  private readonly global: GlobalCounters = {
    invalidFrames: 0,
    sendFailures: 0,
    receiveDrops: 0,
    notAnswering: 0,
    dropped: { 'sender-mac': 0, 'sender-ip': 0, 'unspecified-with-link-layer': 0, 'dad-destination': 0 },
  };
  private readonly onConflict: ((c: AddressConflict) => void) | undefined;
  private readonly mayAnswer: () => boolean;
  private closed = false;

  constructor(opts: AnnouncerOptions) {
    this.io = opts.io;
    this.clock = opts.clock ?? systemClock;
    this.garpCount = opts.garpCount ?? 6;
    this.garpIntervalMs = opts.garpIntervalMs ?? 1000;
    this.log = opts.log ?? silentLog;
    this.vipLogLevel = opts.vipLogLevel ?? 'info';
    this.onConflict = opts.onConflict;
    this.mayAnswer = opts.mayAnswer ?? (() => true);
    if (!Number.isInteger(this.garpCount) || this.garpCount < 0) throw new RangeError(`garpCount must be an integer >= 0, got ${this.garpCount}`);
    if (!(this.garpIntervalMs > 0)) throw new RangeError(`garpIntervalMs must be > 0, got ${this.garpIntervalMs}`);
  }

  /**
   * Starts answering for `ip` on every interface served, or only on those named in `interfaces`, and
   * sends the gratuitous burst there. Idempotent; announcing an announced VIP with other interfaces
   * moves it: it leaves the ones no longer listed, and the newly listed get a gratuitous round.
   */
  announce(ip: string, interfaces?: readonly string[]): void {
    this.assertOpen();
    const parsed = parseVip(ip);
    const only = interfaces === undefined ? undefined : new Set(interfaces);
    const known = this.vips.get(parsed.ip);
    if (known) {
      this.restrict(known, only);
      return;
    }
    let counters = this.allCounters.get(parsed.ip);
    if (!counters) {
      counters = { requestsReceived: 0, responsesSent: 0, gratuitousSent: 0, conflicts: 0 };
      this.allCounters.set(parsed.ip, counters);
    }
    const vip: Vip = { ...parsed, phase: { kind: 'steady' }, counters, lastDefence: -Infinity, only };
    this.vips.set(vip.ip, vip);
    if (vip.family === 4) this.vips4.set(vip.bytes.readUInt32BE(0), vip);
    else this.vips6.set(vip.bytes.toString('hex'), vip);
    if (vip.family === 6) for (const port of this.portsOf(vip)) this.joinFor(port, vip);
    this.log[this.vipLogLevel]({ vip: vip.ip, interfaces: this.portsOf(vip).map((p) => p.link.name) }, 'announcing');
    this.startBurst(vip);
  }

  /** The interfaces `ip` is answered on now (empty when not announced). */
  interfacesOf(ip: string): string[] {
    const vip = this.vips.get(parseVip(ip).ip);
    return vip ? this.portsOf(vip).map((p) => p.link.name) : [];
  }

  private serves(vip: Vip, port: Port): boolean {
    return vip.only === undefined || vip.only.has(port.link.name);
  }

  private portsOf(vip: Vip): Port[] {
    return [...this.ports.values()].filter((p) => this.serves(vip, p));
  }

  private restrict(vip: Vip, only: ReadonlySet<string> | undefined): void {
    const same = only === undefined ? vip.only === undefined : vip.only !== undefined && only.size === vip.only.size && [...only].every((n) => vip.only!.has(n));
    if (same) return;
    const before = new Set(this.portsOf(vip));
    vip.only = only;
    const after = new Set(this.portsOf(vip));
    for (const port of before) if (!after.has(port) && vip.family === 6) this.leaveFor(port, vip);
    for (const port of after) {
      if (before.has(port)) continue;
      if (vip.family === 6) this.joinFor(port, vip);
      this.sendGratuitous(vip, port);
    }
    this.log[this.vipLogLevel]({ vip: vip.ip, interfaces: [...after].map((p) => p.link.name) }, 'interfaces changed');
  }

  /** Stops answering for `ip` at once (and stops its burst). Idempotent. */
  withdraw(ip: string): void {
    const parsed = parseVip(ip);
    const vip = this.vips.get(parsed.ip);
    if (!vip) return;
    this.vips.delete(vip.ip);
    if (vip.family === 4) this.vips4.delete(vip.bytes.readUInt32BE(0));
    else this.vips6.delete(vip.bytes.toString('hex'));
    this.transition(vip, { kind: 'steady' });
    if (vip.family === 6) for (const port of this.portsOf(vip)) this.leaveFor(port, vip);
    this.log[this.vipLogLevel]({ vip: vip.ip }, 'withdrawn');
  }

  /**
   * The interfaces to serve. New ones are opened and get a gratuitous round for every VIP (a link that
   * came up must learn who owns what); gone ones are closed; changed ones (MAC) reopened.
   */
  setInterfaces(links: LinkInfo[]): void {
    this.assertOpen();
    const wanted = new Map(links.map((l) => [l.name, l]));
    for (const [name, port] of this.ports) {
      const next = wanted.get(name);
      if (!next || !sameLink(next, port.link)) {
        this.closePort(port);
        this.log.info({ interface: name }, 'interface removed');
      }
    }
    for (const link of wanted.values()) {
      if (this.ports.has(link.name)) continue;
      let io: Layer2Port;
      try {
        io = this.io.open(
          link,
          (frame) => this.onFrame(link.name, frame),
          (err) => this.log.warn({ interface: link.name, err: err.message }, 'receive error'),
        );
      } catch (e) {
        this.log.warn({ interface: link.name, err: (e as Error).message }, 'cannot open interface');
        continue;
      }
      const port: Port = { link, io, groups: new Map(), scratch4: Buffer.alloc(ARP_FRAME_LENGTH), scratch6: Buffer.alloc(NA_FRAME_LENGTH) };
      this.ports.set(link.name, port);
      this.log.info({ interface: link.name }, 'interface added');
      for (const vip of this.vips.values()) {
        if (!this.serves(vip, port)) continue;
        if (vip.family === 6) this.joinFor(port, vip);
        this.sendGratuitous(vip, port);
      }
    }
  }

  /** Canonical text of the VIPs announced now. */
  announced(): string[] {
    return [...this.vips.keys()];
  }

  /** Names of the interfaces served now. */
  interfaces(): string[] {
    return [...this.ports.keys()];
  }

  /** Whether `ip` is announced and its gratuitous burst still runs. */
  bursting(ip: string): boolean {
    return this.vips.get(parseVip(ip).ip)?.phase.kind === 'bursting';
  }

  /** Counters of every VIP ever announced (a copy). */
  counters(): Map<string, VipCounters> {
    return new Map([...this.allCounters].map(([ip, c]) => [ip, { ...c }]));
  }

  globalCounters(): GlobalCounters {
    for (const port of this.ports.values()) this.collectDrops(port);
    return { ...this.global, dropped: { ...this.global.dropped } };
  }

  /** Stops answering everywhere, cancels timers, closes every socket. */
  close(): void {
    if (this.closed) return;
    for (const vip of this.vips.values()) this.transition(vip, { kind: 'steady' });
    this.vips.clear();
    this.vips4.clear();
    this.vips6.clear();
    for (const port of this.ports.values()) this.closePort(port);
    this.closed = true;
  }

  // --- the VIP state machine: every phase change goes through here ---

  private transition(vip: Vip, next: VipPhase): void {
    if (vip.phase.kind === 'bursting') this.clock.clearTimeout(vip.phase.timer);
    vip.phase = next;
  }

  private startBurst(vip: Vip): void {
    if (this.garpCount === 0) return;
    this.burstRound(vip, this.garpCount);
  }

  private burstRound(vip: Vip, roundsLeft: number): void {
    for (const port of this.portsOf(vip)) this.sendGratuitous(vip, port);
    const left = roundsLeft - 1;
    if (left <= 0) {
      this.transition(vip, { kind: 'steady' });
      return;
    }
    const timer = this.clock.setTimeout(() => {
      if (this.vips.get(vip.ip) === vip) this.burstRound(vip, left);
    }, this.garpIntervalMs);
    this.transition(vip, { kind: 'bursting', roundsLeft: left, timer });
  }

  // --- sending ---

  private sendGratuitous(vip: Vip, port: Port): void {
    const frames =
      vip.family === 4
        ? gratuitousArpFrames(vip.ip, port.link.mac)
        : [unsolicitedAdvertisementFrame(vip.bytes, port.link.mac, vip.bytes)];
    let sent = 0;
    for (const f of frames) if (this.send(port, f)) sent++;
    vip.counters.gratuitousSent += sent;
    this.log.debug({ vip: vip.ip, interface: port.link.name, frames: sent }, 'gratuitous sent');
  }

  private send(port: Port, frame: Buffer): boolean {
    // Every frame we send claims a VIP (answer, gratuitous, defence): one check covers them all.
    if (!this.mayAnswer()) {
      this.global.notAnswering++;
      return false;
    }
    try {
      if (port.io.send(frame)) return true;
    } catch (e) {
      this.log.debug({ interface: port.link.name, err: (e as Error).message }, 'send failed');
    }
    this.global.sendFailures++;
    return false;
  }

  // --- receiving ---

  private onFrame(iface: string, frame: Buffer): void {
    const port = this.ports.get(iface);
    if (!port) return; // a frame read just before the port was closed
    if (frame.length < ETHERNET_HEADER_LENGTH) {
      this.global.invalidFrames++;
      return;
    }
    const etherType = frame.readUInt16BE(12);
    if (etherType === ETHERTYPE_ARP) this.onArp(port, frame);
    else if (etherType === ETHERTYPE_IPV6) this.onNdp(port, frame);
    else this.global.invalidFrames++;
  }

  private onArp(port: Port, frame: Buffer): void {
    const op = arpOperation(frame);
    if (op < 0) {
      // The kernel filter passes only ARP: anything else here is malformed. Counted without
      // decoding it (a FrameError per garbage frame would cost more than the answers under a flood).
      this.global.invalidFrames++;
      return;
    }
    if (isUnusableSourceMac(frame, 6) || isUnusableSourceMac(frame, SENDER_MAC_OFFSET)) {
      this.global.dropped['sender-mac']++;
      return;
    }
    const sender = frame.readUInt32BE(SENDER_IP_OFFSET);
    const claimed = this.vips4.get(sender);
    // A VIP not served on this interface is not ours there (another segment may use the address).
    if (claimed && this.serves(claimed, port)) {
      // Another host sends with our VIP as its address (gratuitous ARP, reply, request).
      if (!macEquals(frame.subarray(SENDER_MAC_OFFSET, SENDER_MAC_OFFSET + 6), port.link.mac)) this.conflict(claimed, port, frame, SENDER_MAC_OFFSET, 'arp');
      return;
    }
    if (op !== ARP_REQUEST_OP) return; // replies are read only to notice conflicts
    if (isUnusableSenderIpv4(sender)) {
      this.global.dropped['sender-ip']++;
      return;
    }
    const dst = frame.subarray(0, 6);
    if (!isBroadcastMac(dst) && !macEquals(dst, port.link.mac)) return;
    const vip = this.vips4.get(frame.readUInt32BE(TARGET_IP_OFFSET));
    if (!vip || !this.serves(vip, port)) return;
    vip.counters.requestsReceived++;
    if (this.send(port, writeArpReply(port.scratch4, frame, vip.bytes, port.link.mac))) vip.counters.responsesSent++;
  }

  private onNdp(port: Port, frame: Buffer): void {
    const icmp = icmpv6Offset(frame);
    const ll = ndpLinkLayerOffset(frame, icmp);
    if (ll === -1) {
      this.global.invalidFrames++;
      return;
    }
    if (isUnusableSourceMac(frame, 6) || (ll >= 0 && isUnusableSourceMac(frame, ll))) {
      this.global.dropped['sender-mac']++;
      return;
    }
    const target = icmp + 8;
    const found = this.vips6.get(frame.toString('hex', target, target + 16));
    const vip = found && this.serves(found, port) ? found : undefined;
    if (frame[icmp] !== 135) {
      // An NA: read only to notice another host advertising one of our VIPs.
      if (vip) {
        const macAt = ll >= 0 ? ll : 6;
        if (!macEquals(frame.subarray(macAt, macAt + 6), port.link.mac)) this.conflict(vip, port, frame, macAt, 'na');
      }
      return;
    }
    const source = ipv6SourceKind(frame);
    if (source === 'unspecified') {
      if (ll >= 0) {
        this.global.dropped['unspecified-with-link-layer']++;
        return;
      }
      if (!vip) return;
      if (!isSolicitedNodeDestination(frame, target)) {
        this.global.dropped['dad-destination']++;
        return;
      }
      // Duplicate address detection for our VIP: RFC 4861 §7.2.4 says answer to all-nodes with
      // Solicited clear, which is our unsolicited advertisement; the prober then sees it is taken.
      vip.counters.requestsReceived++;
      if (this.send(port, unsolicitedAdvertisementFrame(vip.bytes, port.link.mac, vip.bytes))) vip.counters.responsesSent++;
      return;
    }
    if (source === 'unusable') {
      this.global.dropped['sender-ip']++;
      return;
    }
    if (this.vips6.size > 0) {
      const claimed = this.vips6.get(frame.toString('hex', SOURCE_OFFSET, SOURCE_OFFSET + 16));
      if (claimed && this.serves(claimed, port)) {
        const macAt = ll >= 0 ? ll : 6;
        if (!macEquals(frame.subarray(macAt, macAt + 6), port.link.mac)) this.conflict(claimed, port, frame, macAt, 'ns-source');
        return;
      }
    }
    const dst = frame.subarray(0, 6);
    if (!macEquals(dst, port.link.mac) && !(dst[0] === 0x33 && dst[1] === 0x33)) return;
    if (!vip) return;
    vip.counters.requestsReceived++;
    // A unicast NS without the option (neighbour unreachability detection) is answered to its Ethernet source.
    const replyTo = ll === NS_WITHOUT_LINK_LAYER ? 6 : ll;
    if (this.send(port, writeSolicitedAdvertisement(port.scratch6, frame, replyTo, vip.bytes, port.link.mac))) vip.counters.responsesSent++;
  }

  /**
   * Another MAC claims `vip`. RFC 5227 §2.4 (b): defend with one announcement if we have not in the
   * last DEFEND_INTERVAL_MS, otherwise stay quiet: no ARP war. Who owns the VIP stays the cluster's
   * decision; the speaker reports the conflict (Event, metric).
   */
  private conflict(vip: Vip, port: Port, frame: Buffer, macAt: number, how: AddressConflict['how']): void {
    vip.counters.conflicts++;
    const now = this.clock.now();
    const defended = now - vip.lastDefence >= DEFEND_INTERVAL_MS && this.mayAnswer();
    const mac = formatMac(frame.subarray(macAt, macAt + 6));
    if (defended) {
      vip.lastDefence = now;
      const announcement =
        vip.family === 4 ? gratuitousArpFrames(vip.ip, port.link.mac)[0] : unsolicitedAdvertisementFrame(vip.bytes, port.link.mac, vip.bytes);
      if (this.send(port, announcement)) vip.counters.gratuitousSent++;
      // One line per defence: bounded to one per VIP per DEFEND_INTERVAL_MS however fast they come.
      this.log.warn({ vip: vip.ip, interface: port.link.name, mac, how, conflicts: vip.counters.conflicts }, 'address conflict: another host claims the VIP; defended once');
    }
    this.onConflict?.({ vip: vip.ip, interface: port.link.name, mac, how, defended });
  }

  // --- interfaces and multicast groups ---

  private joinFor(port: Port, vip: Vip): void {
    const group = solicitedNodeAddress(vip.bytes);
    const key = group.toString('hex');
    const n = port.groups.get(key) ?? 0;
    if (n === 0) {
      try {
        port.io.joinGroup(group);
      } catch (e) {
        // Still answer: the lab bridge and many switches flood multicast anyway.
        this.log.warn({ interface: port.link.name, group: formatIpv6(group), err: (e as Error).message }, 'cannot join solicited-node group');
      }
    }
    port.groups.set(key, n + 1);
  }

  private leaveFor(port: Port, vip: Vip): void {
    const group = solicitedNodeAddress(vip.bytes);
    const key = group.toString('hex');
    const n = port.groups.get(key) ?? 0;
    if (n <= 1) {
      port.groups.delete(key);
      if (n === 1) {
        try {
          port.io.leaveGroup(group);
        } catch (e) {
          this.log.debug({ interface: port.link.name, err: (e as Error).message }, 'cannot leave group');
        }
      }
    } else {
      port.groups.set(key, n - 1);
    }
  }

  private collectDrops(port: Port): void {
    try {
      this.global.receiveDrops += port.io.stats?.().drops ?? 0;
    } catch {
      /* socket already gone */
    }
  }

  private closePort(port: Port): void {
    this.collectDrops(port);
    this.ports.delete(port.link.name);
    try {
      port.io.close();
    } catch (e) {
      this.log.debug({ interface: port.link.name, err: (e as Error).message }, 'close failed');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('announcer is closed');
  }
}
