// The Ethernet + IPv6 envelope of every NDP message we receive (RFC 4861 §6.1, §7.1): Ethernet II
// with type IPv6, next header ICMPv6, hop limit 255, a payload length that fits the frame and a
// valid ICMPv6 checksum. One check, and one builder, for NS/NA (frames.ts) and RS/RA (router-frames.ts).
import * as ethernet from '../rawio/ethernet.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV6, type EthernetHeader } from '../rawio/ethernet.js';
import { FrameError } from '../rawio/frame-error.js';
import { icmpv6Checksum } from './checksum.js';
import * as ipv6 from './ipv6.js';
import { IPV6_HEADER_LENGTH, NEXT_HEADER_ICMPV6, type Ipv6Header } from './ipv6.js';

export const ICMP_OFFSET = ETHERNET_HEADER_LENGTH + IPV6_HEADER_LENGTH;

export interface Icmpv6Envelope {
  eth: EthernetHeader;
  ip: Ipv6Header;
  /** The ICMPv6 message is frame[ICMP_OFFSET, end). */
  end: number;
}

/** Decodes and validates the envelope; throws FrameError naming the field and byte offset. */
export function decodeIcmpv6Envelope(frame: Buffer): Icmpv6Envelope {
  const eth = ethernet.decode(frame, 0);
  if (eth.etherType !== ETHERTYPE_IPV6) {
    throw new FrameError('ethernet', 'ethernet.etherType', `expected 0x86dd (IPv6), got 0x${eth.etherType.toString(16)}`, 12);
  }
  const ip = ipv6.decode(frame, ETHERNET_HEADER_LENGTH);
  if (ip.nextHeader !== NEXT_HEADER_ICMPV6) {
    throw new FrameError('ipv6', 'ipv6.nextHeader', `expected 58 (ICMPv6), got ${ip.nextHeader}`, ETHERNET_HEADER_LENGTH + 6);
  }
  // Only a neighbour on the link can send hop limit 255: rejects forwarded spoofs.
  if (ip.hopLimit !== 255) throw new FrameError('ipv6', 'ipv6.hopLimit', `must be 255, got ${ip.hopLimit}`, ETHERNET_HEADER_LENGTH + 7);
  const end = ICMP_OFFSET + ip.payloadLength;
  if (end > frame.length) {
    throw new FrameError('ipv6', 'ipv6.payloadLength', `${ip.payloadLength} exceeds the ${frame.length - ICMP_OFFSET} bytes present`, ETHERNET_HEADER_LENGTH + 4);
  }
  const icmp = frame.subarray(ICMP_OFFSET, end);
  if (icmp.length >= 4 && icmpv6Checksum(ip.src, ip.dst, icmp) !== 0) {
    throw new FrameError('icmpv6', 'icmpv6.checksum', `bad checksum 0x${icmp.readUInt16BE(2).toString(16)}`, ICMP_OFFSET + 2);
  }
  return { eth, ip, end };
}

/** An ICMPv6 message codec: NS/NA (messages.ts) or RS/RA (router-advertisement.ts). */
export interface Icmpv6Codec<M> {
  encodingLength(m: M): number;
  encode(m: M, buf: Buffer, offset: number): number;
}

/** Builds the frame around `msg`, computing payload length and checksum. */
export function encodeIcmpv6Frame<M>(codec: Icmpv6Codec<M>, f: { eth: EthernetHeader; ip: Omit<Ipv6Header, 'payloadLength' | 'nextHeader'>; msg: M }): Buffer {
  const payloadLength = codec.encodingLength(f.msg);
  const buf = Buffer.alloc(ICMP_OFFSET + payloadLength);
  ethernet.encode({ ...f.eth, etherType: ETHERTYPE_IPV6 }, buf, 0);
  ipv6.encode({ ...f.ip, payloadLength, nextHeader: NEXT_HEADER_ICMPV6 }, buf, ETHERNET_HEADER_LENGTH);
  codec.encode(f.msg, buf, ICMP_OFFSET);
  buf.writeUInt16BE(icmpv6Checksum(f.ip.src, f.ip.dst, buf.subarray(ICMP_OFFSET)), ICMP_OFFSET + 2);
  return buf;
}
