// The allocation-free hot path for answering Neighbor Solicitations under load: validates the NS in
// place (RFC 4861 §7.1.1: hop limit 255, code 0, checksum, options) and writes the solicited NA into
// a reused buffer. Equivalent to decodeNdpFrame + solicitedAdvertisementFrame (a unit property
// checks that).
import type { Mac } from '../rawio/mac.js';
import { icmpv6Checksum } from './checksum.js';

/** Ethernet + IPv6 + NA with one link-layer option. */
export const NA_FRAME_LENGTH = 86;
const ICMP = 54;
/** Offset of the NS/NA target address in the frame. */
export const TARGET_OFFSET = ICMP + 8;

/** solicitationLinkLayerOffset: a valid NS without a source link-layer option (a DAD probe). */
export const NS_WITHOUT_LINK_LAYER = -2;

/**
 * For a valid NS (no extension headers) carrying a source link-layer option, the offset of that
 * option's MAC in the frame; NS_WITHOUT_LINK_LAYER for a valid NS without it; -1 for anything else.
 * Never throws: under a flood of garbage, exceptions would cost more than the answers.
 */
export function solicitationLinkLayerOffset(frame: Buffer): number {
  if (frame.length < ICMP + 24) return -1;
  if (frame[12] !== 0x86 || frame[13] !== 0xdd || frame[14] >> 4 !== 6) return -1;
  if (frame[20] !== 58 || frame[21] !== 255) return -1;
  const end = ICMP + frame.readUInt16BE(18);
  if (end > frame.length || end < ICMP + 24) return -1;
  if (frame[ICMP] !== 135 || frame[ICMP + 1] !== 0 || frame[TARGET_OFFSET] === 0xff) return -1;
  let ll = -1;
  for (let o = ICMP + 24; o < end; ) {
    if (o + 2 > end) return -1;
    const len = frame[o + 1] * 8;
    if (len === 0 || o + len > end) return -1;
    if (frame[o] === 1 && len === 8 && ll < 0) ll = o + 2;
    o += len;
  }
  if (icmpv6Checksum(frame.subarray(22, 38), frame.subarray(38, 54), frame.subarray(ICMP, end)) !== 0) return -1;
  return ll < 0 ? NS_WITHOUT_LINK_LAYER : ll;
}

/**
 * Writes into `out` (NA_FRAME_LENGTH bytes) the solicited NA answering `ns` (checked by
 * solicitationLinkLayerOffset, whose result is `llOffset`) for `target` at `mac`, from `target`.
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
