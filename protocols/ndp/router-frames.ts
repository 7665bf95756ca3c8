// Whole Ethernet frames carrying RS/RA: parse a received frame with the validity checks of RFC 4861
// §6.1.1 (RS) and §6.1.2 (RA), build the RS and RA an unnumbered BGP link sends. A frame failing a
// check throws a FrameError whose field routerDropReason() maps to a counter.
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV6, type EthernetHeader } from '../rawio/ethernet.js';
import { FrameError } from '../rawio/frame-error.js';
import { isUnusableSourceMac, type Mac } from '../rawio/mac.js';
import { decodeIcmpv6Envelope, encodeIcmpv6Frame, ICMP_OFFSET } from './icmpv6-frame.js';
import type { Ipv6Header } from './ipv6.js';
import { ALL_NODES, multicastMac } from './multicast.js';
import * as router from './router-advertisement.js';
import { ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION, type RouterAdvertisement, type RouterMessage } from './router-advertisement.js';

export const ALL_ROUTERS = Buffer.from('ff020000000000000000000000000002', 'hex');

export interface RouterFrame {
  eth: EthernetHeader;
  ip: Ipv6Header;
  msg: RouterMessage;
}

/** fe80::/10. */
export function isLinkLocal(addr: Uint8Array): boolean {
  return addr[0] === 0xfe && (addr[1] & 0xc0) === 0x80;
}

function isUnspecified(addr: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (addr[i] !== 0) return false;
  return true;
}

const IP_SRC_OFFSET = ETHERNET_HEADER_LENGTH + 8;

/**
 * Decodes and validates an Ethernet frame carrying RS or RA; throws FrameError otherwise. RA: hop
 * limit 255, link-local source, valid checksum, code 0, at least 16 bytes, no option of length 0
 * (§6.1.2). RS: the same with at least 8 bytes, a unicast or unspecified source, and no source
 * link-layer option from the unspecified address (§6.1.1). Also refuses a group or zero Ethernet
 * source, which no host owns.
 */
export function decodeRouterFrame(frame: Buffer): RouterFrame {
  const { eth, ip, end } = decodeIcmpv6Envelope(frame);
  if (isUnusableSourceMac(frame, 6)) throw new FrameError('ethernet', 'ethernet.src', 'group or zero source MAC', 6);
  const msg = router.decode(frame, ICMP_OFFSET, end);
  if (msg.type === ICMPV6_ROUTER_ADVERTISEMENT) {
    if (!isLinkLocal(ip.src)) throw new FrameError('ipv6', 'ipv6.src', 'a Router Advertisement must come from a link-local address (RFC 4861 §6.1.2)', IP_SRC_OFFSET);
  } else if (ip.src[0] === 0xff) {
    throw new FrameError('ipv6', 'ipv6.src', 'multicast source', IP_SRC_OFFSET);
  } else if (isUnspecified(ip.src) && msg.sourceLinkLayer) {
    throw new FrameError('ndp', 'ndp.option.sourceLinkLayer', 'source link-layer option from the unspecified address (RFC 4861 §6.1.1)', ICMP_OFFSET + 8);
  }
  return { eth, ip, msg };
}

/** Why a received RS/RA was dropped: one counter per class of RFC 4861 §6.1 check. */
export type RouterDropReason = 'hopLimit' | 'source' | 'code' | 'checksum' | 'length' | 'malformed';

export function routerDropReason(err: FrameError): RouterDropReason {
  switch (err.field) {
    case 'ipv6.hopLimit':
      return 'hopLimit';
    case 'ipv6.src':
    case 'ethernet.src':
      return 'source';
    case 'ndp.code':
      return 'code';
    case 'icmpv6.checksum':
      return 'checksum';
    case 'ndp.length':
    case 'icmpv6':
    case 'ipv6.payloadLength':
      return 'length';
    default:
      return 'malformed';
  }
}

/** Builds the frame, computing payload length and checksum. */
export function encodeRouterFrame(f: { eth: EthernetHeader; ip: Omit<Ipv6Header, 'payloadLength' | 'nextHeader'>; msg: RouterMessage }): Buffer {
  return encodeIcmpv6Frame(router, f);
}

/** A Router Solicitation to all routers (ff02::2) from `src` (a link-local address) with our MAC. */
export function routerSolicitationFrame(mac: Mac, src: Buffer): Buffer {
  return encodeRouterFrame({
    eth: { dst: multicastMac(ALL_ROUTERS), src: mac, etherType: ETHERTYPE_IPV6 },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: ALL_ROUTERS },
    msg: { type: ICMPV6_ROUTER_SOLICITATION, sourceLinkLayer: mac },
  });
}

/**
 * A Router Advertisement to all nodes (ff02::1) from `src` (a link-local address) with our MAC. By
 * default router lifetime 0 and nothing else: we are not a default router, the peer only needs to
 * learn our link-local address (what FRR's unnumbered BGP waits for).
 */
export function routerAdvertisementFrame(mac: Mac, src: Buffer, ra: Partial<Omit<RouterAdvertisement, 'type' | 'sourceLinkLayer'>> = {}): Buffer {
  return encodeRouterFrame({
    eth: { dst: multicastMac(ALL_NODES), src: mac, etherType: ETHERTYPE_IPV6 },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: ALL_NODES },
    msg: {
      type: ICMPV6_ROUTER_ADVERTISEMENT,
      curHopLimit: 0,
      managed: false,
      other: false,
      routerLifetime: 0,
      reachableTime: 0,
      retransTimer: 0,
      prefixes: [],
      ...ra,
      sourceLinkLayer: mac,
    },
  });
}
