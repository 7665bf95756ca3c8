// The OPEN we send, and the checks and capability negotiation on the OPEN we receive
// (RFC 4271 §6.2, RFC 5492, RFC 4760, RFC 6793, RFC 8654, RFC 4724).
import { Afi, Safi, type Capability, type ExtendedNextHopFamily } from './capabilities.js';
import { BgpError, ErrorCode, OpenSubcode } from './errors.js';
import { AS_TRANS, type OpenMessage } from './open.js';
import type { AddressFamily } from './prefix.js';
import { formatIPv4 } from './prefix.js';

export interface LocalOpenOptions {
  localAs: number;
  holdTime: number;
  /** BGP Identifier as an unsigned 32-bit number. */
  routerId: number;
  extendedMessages?: boolean;
  /** Offer RFC 8950 Extended Next Hop for IPv4 unicast with an IPv6 next hop (unnumbered and IPv6 sessions). */
  extendedNextHop?: boolean;
  /** RFC 4724 restart time in seconds; absent = no graceful restart capability. */
  gracefulRestartTime?: number;
  /** Set the R bit: this speaker has just restarted. */
  restarting?: boolean;
  /** The unicast families offered (default both: IPv4 and IPv6 on one session, MP-BGP). */
  families?: readonly AddressFamily[];
}

/** The RFC 8950 tuple we offer and look for: IPv4 unicast routes may carry an IPv6 next hop. */
const IPV4_VIA_IPV6: ExtendedNextHopFamily = { afi: Afi.IPv4, safi: Safi.Unicast, nextHopAfi: Afi.IPv6 };

/** Whether these capabilities offer IPv4 unicast with an IPv6 next hop. */
function offersIpv4ViaIpv6(caps: readonly Capability[]): boolean {
  return caps.some((c) => c.kind === 'extended-next-hop' && c.families.some((f) => f.afi === IPV4_VIA_IPV6.afi && f.safi === IPV4_VIA_IPV6.safi && f.nextHopAfi === IPV4_VIA_IPV6.nextHopAfi));
}

/** The OPEN we send: IPv4 and IPv6 unicast (or the families asked for), route refresh, 4-octet AS, and the optional ones. */
export function localOpen(o: LocalOpenOptions): OpenMessage {
  const families = o.families ?? ['ipv4', 'ipv6'];
  const afis = families.map((f) => (f === 'ipv4' ? Afi.IPv4 : Afi.IPv6));
  const capabilities: Capability[] = [
    ...afis.map((afi): Capability => ({ kind: 'multiprotocol', afi, safi: Safi.Unicast })),
    { kind: 'route-refresh' },
    { kind: 'four-octet-as', asn: o.localAs },
  ];
  if (o.extendedMessages) capabilities.push({ kind: 'extended-message' });
  // IPv4 routes over an IPv6 next hop only where IPv4 routes are offered at all.
  if (o.extendedNextHop && families.includes('ipv4')) capabilities.push({ kind: 'extended-next-hop', families: [IPV4_VIA_IPV6] });
  if (o.gracefulRestartTime !== undefined) {
    capabilities.push({
      kind: 'graceful-restart',
      restartState: o.restarting ?? false,
      notification: false,
      restartTime: Math.min(4095, o.gracefulRestartTime),
      // F bit set: forwarding is done by the node's kernel, which outlives a speaker restart.
      families: afis.map((afi) => ({ afi, safi: Safi.Unicast, forwardingState: true })),
    });
  }
  return { type: 'open', version: 4, myAs: o.localAs > 0xffff ? AS_TRANS : o.localAs, holdTime: o.holdTime, bgpIdentifier: o.routerId >>> 0, capabilities };
}

/** What both sides agreed on, from our OPEN and the peer's. */
export interface Negotiated {
  /** The peer's AS from its OPEN (4-octet AS capability, else My AS): learned when the config says dynamic. */
  peerAs: number;
  peerRouterId: string;
  /** Seconds; the minimum of both; 0 = no keepalives and no hold timer. */
  holdTime: number;
  /** Milliseconds between our KEEPALIVEs (0 = none). */
  keepaliveMs: number;
  fourByteAs: boolean;
  extendedMessages: boolean;
  /** RFC 8950: both sides offered IPv4 unicast with an IPv6 next hop (MP_REACH_NLRI AFI 1, 16/32-octet next hop). */
  extendedNextHop: boolean;
  /** Families both sides support (IPv4 implied when the peer sends no multiprotocol capability). */
  families: AddressFamily[];
  peerRouteRefresh: boolean;
  peerGracefulRestart?: { restartTime: number; restartState: boolean };
}

/**
 * The peer AS we accept: a number, or MetalLB's dynamic ASN (`dynamicASN`): 'internal' accepts only
 * our own AS (iBGP), 'external' any other (eBGP); the value is learned from the peer's OPEN.
 */
export type PeerAs = number | 'internal' | 'external';

/** Whether the session is iBGP: known before the OPEN, since a dynamic peer AS is bound to a relation. */
export function isIbgp(localAs: number, peerAs: PeerAs): boolean {
  return peerAs === 'internal' || peerAs === localAs;
}

/** The configured peer AS as text for logs: `65001`, `internal`, `external`. */
export function describePeerAs(peerAs: PeerAs): string {
  return typeof peerAs === 'number' ? String(peerAs) : `dynamic (${peerAs})`;
}

export interface OpenCheck {
  localAs: number;
  peerAs: PeerAs;
  localRouterId: number;
  holdTime: number;
  /** Configured keepalive seconds; default holdTime/3. */
  keepaliveTime?: number;
  ours: OpenMessage;
}

function families(caps: readonly Capability[]): Set<string> {
  const out = new Set<string>();
  for (const c of caps) if (c.kind === 'multiprotocol') out.add(`${c.afi}/${c.safi}`);
  return out;
}

/** Validate the peer's OPEN and negotiate; throws BgpError with the NOTIFICATION to send. */
export function negotiate(peer: OpenMessage, check: OpenCheck): Negotiated {
  const four = peer.capabilities.find((c): c is Extract<Capability, { kind: 'four-octet-as' }> => c.kind === 'four-octet-as');
  const peerAs = four ? four.asn : peer.myAs;
  const badPeerAs = (why: string): BgpError => {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(peer.myAs);
    return new BgpError(ErrorCode.OpenMessage, OpenSubcode.BadPeerAs, why, data);
  };
  // RFC 6793 §4.1: My AS is AS_TRANS when the real ASN needs 4 octets, else the ASN itself; RFC 7607: AS 0 is never valid.
  if (four && four.asn !== 0) {
    const expectedMyAs = four.asn > 0xffff ? AS_TRANS : four.asn;
    if (peer.myAs !== expectedMyAs) throw badPeerAs(`My AS ${peer.myAs} disagrees with the 4-octet AS capability ${four.asn} (expected ${expectedMyAs})`);
    if (four.asn === AS_TRANS) throw badPeerAs(`the 4-octet AS capability carries AS_TRANS (${AS_TRANS})`);
  }
  if (peerAs === 0) throw badPeerAs('peer AS 0 (RFC 7607)');
  if (check.peerAs === 'internal') {
    if (peerAs !== check.localAs) throw badPeerAs(`peer AS ${peerAs} is not our AS ${check.localAs} (dynamic ASN internal: iBGP only)`);
  } else if (check.peerAs === 'external') {
    if (peerAs === check.localAs) throw badPeerAs(`peer AS ${peerAs} is our own AS (dynamic ASN external: eBGP only)`);
  } else if (peerAs !== check.peerAs) throw badPeerAs(`peer AS ${peerAs}, configured ${check.peerAs}`);
  if (peer.holdTime === 1 || peer.holdTime === 2) {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(peer.holdTime);
    throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.UnacceptableHoldTime, `hold time ${peer.holdTime} (must be 0 or >= 3)`, data);
  }
  const id = peer.bgpIdentifier >>> 0;
  // RFC 6286: any non-zero identifier, but an iBGP peer must not share ours.
  if (id === 0 || (peerAs === check.localAs && id === check.localRouterId >>> 0)) {
    const data = Buffer.alloc(4);
    data.writeUInt32BE(id);
    throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.BadBgpIdentifier, `BGP identifier ${formatIPv4(id)} ${id === 0 ? 'is zero' : 'equals ours on an iBGP session'}`, data);
  }
  const holdTime = Math.min(check.holdTime, peer.holdTime);
  // A keepalive time of 0 with a non-zero hold time would let the router's hold timer expire: use the default.
  const keepaliveSeconds = holdTime === 0 ? 0 : Math.min(check.keepaliveTime || holdTime / 3, holdTime / 3);
  const ourFamilies = families(check.ours.capabilities);
  const peerFamilies = families(peer.capabilities);
  const peerHasMp = peer.capabilities.some((c) => c.kind === 'multiprotocol');
  const common: AddressFamily[] = [];
  if (ourFamilies.has('1/1') && (!peerHasMp || peerFamilies.has('1/1'))) common.push('ipv4');
  if (ourFamilies.has('2/1') && peerFamilies.has('2/1')) common.push('ipv6');
  const has = (caps: readonly Capability[], kind: Capability['kind']): boolean => caps.some((c) => c.kind === kind);
  const gr = peer.capabilities.find((c): c is Extract<Capability, { kind: 'graceful-restart' }> => c.kind === 'graceful-restart');
  const n: Negotiated = {
    peerAs,
    peerRouterId: formatIPv4(id),
    holdTime,
    keepaliveMs: Math.floor(keepaliveSeconds * 1000),
    fourByteAs: four !== undefined && has(check.ours.capabilities, 'four-octet-as'),
    extendedMessages: has(peer.capabilities, 'extended-message') && has(check.ours.capabilities, 'extended-message'),
    extendedNextHop: offersIpv4ViaIpv6(check.ours.capabilities) && offersIpv4ViaIpv6(peer.capabilities),
    families: common,
    peerRouteRefresh: has(peer.capabilities, 'route-refresh') || has(peer.capabilities, 'route-refresh-cisco'),
  };
  if (gr) n.peerGracefulRestart = { restartTime: gr.restartTime, restartState: gr.restartState };
  return n;
}

/** A stable non-zero 32-bit router ID from a name (FNV-1a), for nodes without an IPv4 source address. */
export function routerIdFromName(name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(name, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h === 0 ? 1 : h;
}
