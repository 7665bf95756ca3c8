// Whole Ethernet frames carrying NS/NA: parse a received frame (with the RFC 4861 §7.1 validity
// checks: hop limit 255, checksum, code 0), build solicited and unsolicited advertisements.
import { ETHERTYPE_IPV6, type EthernetHeader } from '../rawio/ethernet.js';
import { FrameError } from '../rawio/frame-error.js';
import type { Mac } from '../rawio/mac.js';
import { decodeIcmpv6Envelope, encodeIcmpv6Frame, ICMP_OFFSET } from './icmpv6-frame.js';
import type { Ipv6Header } from './ipv6.js';
import * as ndp from './messages.js';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, type NdpMessage } from './messages.js';
import { ALL_NODES, multicastMac, solicitedNodeAddress } from './multicast.js';

export interface NdpFrame {
  eth: EthernetHeader;
  ip: Ipv6Header;
  msg: NdpMessage;
}

/** Decodes and validates an Ethernet frame carrying NS or NA; throws FrameError otherwise. */
export function decodeNdpFrame(frame: Buffer): NdpFrame {
  const { eth, ip, end } = decodeIcmpv6Envelope(frame);
  return { eth, ip, msg: ndp.decode(frame, ICMP_OFFSET, end) };
}

/** Builds the frame, computing payload length and checksum (the given ip.payloadLength is ignored). */
export function encodeNdpFrame(f: { eth: EthernetHeader; ip: Omit<Ipv6Header, 'payloadLength' | 'nextHeader'>; msg: NdpMessage }): Buffer {
  return encodeIcmpv6Frame(ndp, f);
}

/**
 * The solicited NA answering `ns` (which must carry a source link-layer option) for `target` at
 * `mac`, sent from `src`. Use the target itself as the source, as the kernel does for its own
 * addresses: clients such as ndisc6 accept an answer only from the address they asked about.
 */
export function solicitedAdvertisementFrame(ns: NdpFrame, target: Buffer, mac: Mac, src: Buffer): Buffer {
  if (ns.msg.type !== ICMPV6_NEIGHBOR_SOLICITATION || !ns.msg.sourceLinkLayer) {
    throw new FrameError('ndp', 'ndp.option.sourceLinkLayer', 'can only answer a solicitation carrying a source link-layer address');
  }
  return encodeNdpFrame({
    eth: { dst: ns.msg.sourceLinkLayer, src: mac, etherType: ETHERTYPE_IPV6 },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: ns.ip.src },
    msg: { type: ICMPV6_NEIGHBOR_ADVERTISEMENT, router: false, solicited: true, override: true, target, targetLinkLayer: mac },
  });
}

/** The unsolicited NA to all nodes (ff02::1) with Override set, so existing entries switch to `mac`. */
export function unsolicitedAdvertisementFrame(target: Buffer, mac: Mac, src: Buffer): Buffer {
  return encodeNdpFrame({
    eth: { dst: multicastMac(ALL_NODES), src: mac, etherType: ETHERTYPE_IPV6 },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: ALL_NODES },
    msg: { type: ICMPV6_NEIGHBOR_ADVERTISEMENT, router: false, solicited: false, override: true, target, targetLinkLayer: mac },
  });
}

/** A multicast NS for `target` from `src`/`mac`, as a client sends (used by lab tools and tests). */
export function solicitationFrame(target: Buffer, mac: Mac, src: Buffer): Buffer {
  const group = solicitedNodeAddress(target);
  return encodeNdpFrame({
    eth: { dst: multicastMac(group), src: mac, etherType: ETHERTYPE_IPV6 },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: group },
    msg: { type: ICMPV6_NEIGHBOR_SOLICITATION, target, sourceLinkLayer: mac },
  });
}
