// The allocation-free hot path for answering Neighbor Solicitations under load: validates the NS in
// place (RFC 4861 §7.1.1: hop limit 255, code 0, checksum, options) and writes the solicited NA into
// a reused buffer. Equivalent to decodeNdpFrame + solicitedAdvertisementFrame (a unit property
// checks that).
import type { Mac } from '../rawio/mac.js';
import { icmpv6Checksum } from './checksum.js';

/** Ethernet + IPv6 + NA with one link-layer option. */
export const NA_FRAME_LENGTH = 86;
const ICMP = 54;
/** Offset of the target address in the NA we write (no extension headers). */
export const TARGET_OFFSET = ICMP + 8;
export const SOURCE_OFFSET = 22;
export const DESTINATION_OFFSET = 38;
const NEIGHBOR_SOLICITATION = 135;
const NEIGHBOR_ADVERTISEMENT = 136;

/** ndpLinkLayerOffset: a valid NS/NA without the link-layer option (an NS from a DAD probe, say). */
export const NS_WITHOUT_LINK_LAYER = -2;

/**
 * The offset of the ICMPv6 header of an IPv6 frame: right after the fixed header, or after one
 * hop-by-hop or destination options header (RFC 4861 does not forbid them before an NS/NA, and the
 * kernel filter passes exactly these); -1 when it is not IPv6 carrying ICMPv6 that way.
 */
export function icmpv6Offset(frame: Buffer): number {
  if (frame.length < ICMP + 8) return -1;
  if (frame[12] !== 0x86 || frame[13] !== 0xdd || frame[14] >> 4 !== 6) return -1;
  const next = frame[20];
  if (next === 58) return ICMP;
  if (next !== 0 && next !== 60) return -1;
  if (frame[ICMP] !== 58) return -1;
  return ICMP + (frame[ICMP + 1] + 1) * 8;
}

/**
 * For a valid NS (type 135) or NA (136) whose ICMPv6 header is at `icmp` (icmpv6Offset), the offset
 * of the MAC in its source (NS) or target (NA) link-layer option; NS_WITHOUT_LINK_LAYER for a valid
 * message without it; -1 for anything else (RFC 4861 §7.1: hop limit 255, code 0, length, options,
 * checksum, target not multicast). Never throws: under a flood of garbage, exceptions would cost
 * more than the answers.
 */
export function ndpLinkLayerOffset(frame: Buffer, icmp: number): number {
  if (icmp < 0 || frame.length < icmp + 24) return -1;
  if (frame[21] !== 255) return -1;
  const end = ICMP + frame.readUInt16BE(18);
  if (end > frame.length || end < icmp + 24) return -1;
  const type = frame[icmp];
  if ((type !== NEIGHBOR_SOLICITATION && type !== NEIGHBOR_ADVERTISEMENT) || frame[icmp + 1] !== 0 || frame[icmp + 8] === 0xff) return -1;
  const wanted = type === NEIGHBOR_SOLICITATION ? 1 : 2;
  let ll = -1;
  for (let o = icmp + 24; o < end; ) {
    if (o + 2 > end) return -1;
    const len = frame[o + 1] * 8;
    if (len === 0 || o + len > end) return -1;
    if (frame[o] === wanted && len === 8 && ll < 0) ll = o + 2;
    o += len;
  }
  if (icmpv6Checksum(frame.subarray(SOURCE_OFFSET, 38), frame.subarray(DESTINATION_OFFSET, 54), frame.subarray(icmp, end)) !== 0) return -1;
  return ll < 0 ? NS_WITHOUT_LINK_LAYER : ll;
}

/**
 * For a valid NS without extension headers carrying a source link-layer option, the offset of that
 * option's MAC in the frame; NS_WITHOUT_LINK_LAYER for a valid NS without it; -1 for anything else.
 */
export function solicitationLinkLayerOffset(frame: Buffer): number {
  const icmp = icmpv6Offset(frame);
  if (icmp < 0 || frame[icmp] !== NEIGHBOR_SOLICITATION) return -1;
  return ndpLinkLayerOffset(frame, icmp);
}

/** What an NS's IPv6 source says about its sender. */
export type Ipv6SourceKind = 'unicast' | 'unspecified' | 'unusable';

/**
 * Classifies the IPv6 source of a frame: `unspecified` (::, a DAD probe), `unusable` for addresses no
 * neighbour can send from (multicast, loopback ::1, IPv4-mapped ::ffff:0:0/96), else `unicast`.
 */
export function ipv6SourceKind(frame: Buffer): Ipv6SourceKind {
  const o = SOURCE_OFFSET;
  if (frame[o] === 0xff) return 'unusable';
  for (let i = 0; i < 10; i++) if (frame[o + i] !== 0) return 'unicast';
  const mapped = frame[o + 10] === 0xff && frame[o + 11] === 0xff;
  if (mapped) return 'unusable';
  if (frame[o + 10] !== 0 || frame[o + 11] !== 0 || frame[o + 12] !== 0 || frame[o + 13] !== 0 || frame[o + 14] !== 0) return 'unicast';
  if (frame[o + 15] === 0) return 'unspecified';
  return frame[o + 15] === 1 ? 'unusable' : 'unicast';
}

/** Whether the frame's IPv6 destination is the solicited-node group of the target at `targetOffset` (ff02::1:ffXX:XXXX). */
export function isSolicitedNodeDestination(frame: Buffer, targetOffset: number): boolean {
  const d = DESTINATION_OFFSET;
  if (frame[d] !== 0xff || frame[d + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (frame[d + i] !== 0) return false;
  return frame[d + 11] === 1 && frame[d + 12] === 0xff && frame[d + 13] === frame[targetOffset + 13] && frame[d + 14] === frame[targetOffset + 14] && frame[d + 15] === frame[targetOffset + 15];
}

/**
 * Writes into `out` (NA_FRAME_LENGTH bytes) the solicited NA answering `ns` (checked by
 * ndpLinkLayerOffset) for `target` at `mac`, from `target`, to the MAC at `llOffset` (the source
 * link-layer option, or the Ethernet source for a unicast NS without one).
 */
export function writeSolicitedAdvertisement(out: Buffer, ns: Buffer, llOffset: number, target: Buffer, mac: Mac): Buffer {
  ns.copy(out, 0, llOffset, llOffset + 6);
  mac.copy(out, 6);
  out[12] = 0x86;
  out[13] = 0xdd;
  out.writeUInt32BE(0x60000000, 14);
  out.writeUInt16BE(32, 18);
  out[20] = 58;
  out[21] = 255;
  target.copy(out, 22);
  ns.copy(out, 38, 22, 38); // to the solicitation's source
  out[ICMP] = 136;
  out[ICMP + 1] = 0;
  out.writeUInt16BE(0, ICMP + 2);
  out.writeUInt32BE(0x60000000, ICMP + 4); // Solicited | Override
  target.copy(out, TARGET_OFFSET);
  out[ICMP + 24] = 2;
  out[ICMP + 25] = 1;
  mac.copy(out, ICMP + 26);
  out.writeUInt16BE(icmpv6Checksum(out.subarray(22, 38), out.subarray(38, 54), out.subarray(ICMP, NA_FRAME_LENGTH)), ICMP + 2);
  return out;
}
