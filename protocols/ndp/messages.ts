// ICMPv6 Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4) with the source /
// target link-layer address options (§4.6.1). The checksum field is written as zero here; frames.ts
// fills it in, since it covers the IPv6 pseudo-header.
import { FrameError, needBytes } from '../rawio/frame-error.js';
import type { Mac } from '../rawio/mac.js';

export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
const OPT_SOURCE_LL = 1;
const OPT_TARGET_LL = 2;
const FIXED_LENGTH = 24;

export interface NeighborSolicitation {
  type: typeof ICMPV6_NEIGHBOR_SOLICITATION;
  target: Buffer;
  /** Absent in duplicate address detection probes (source ::). */
  sourceLinkLayer?: Mac;
}

export interface NeighborAdvertisement {
  type: typeof ICMPV6_NEIGHBOR_ADVERTISEMENT;
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: Buffer;
  targetLinkLayer?: Mac;
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

function linkLayer(m: NdpMessage): Mac | undefined {
  return m.type === ICMPV6_NEIGHBOR_SOLICITATION ? m.sourceLinkLayer : m.targetLinkLayer;
}

export function encodingLength(m: NdpMessage): number {
  return FIXED_LENGTH + (linkLayer(m) ? 8 : 0);
}

export function encode(m: NdpMessage, buf: Buffer, offset = 0): number {
  if (m.target.length !== 16) throw new FrameError('ndp', 'ndp.target', `address must be 16 bytes, got ${m.target.length}`);
  const ll = linkLayer(m);
  if (ll && ll.length !== 6) throw new FrameError('ndp', 'ndp.linkLayerAddress', `MAC must be 6 bytes, got ${ll.length}`);
  const len = encodingLength(m);
  needBytes(buf, offset, len, 'ndp', 'ndp');
  buf[offset] = m.type;
  buf[offset + 1] = 0;
  buf.writeUInt16BE(0, offset + 2);
  buf.writeUInt32BE(0, offset + 4);
  if (m.type === ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    buf[offset + 4] = (m.router ? 0x80 : 0) | (m.solicited ? 0x40 : 0) | (m.override ? 0x20 : 0);
  }
  m.target.copy(buf, offset + 8);
  if (ll) {
    buf[offset + 24] = m.type === ICMPV6_NEIGHBOR_SOLICITATION ? OPT_SOURCE_LL : OPT_TARGET_LL;
    buf[offset + 25] = 1;
    ll.copy(buf, offset + 26);
  }
  return len;
}

/** Decodes an NS or NA occupying buf[offset, end) (end defaults to the buffer's end). */
export function decode(buf: Buffer, offset = 0, end = buf.length): NdpMessage {
  const msg = buf.subarray(0, end);
  needBytes(msg, offset, 4, 'icmpv6', 'icmpv6');
  const type = msg[offset];
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    throw new FrameError('icmpv6', 'icmpv6.type', `expected 135 (NS) or 136 (NA), got ${type}`, offset);
  }
  if (msg[offset + 1] !== 0) throw new FrameError('ndp', 'ndp.code', `must be 0, got ${msg[offset + 1]}`, offset + 1);
  needBytes(msg, offset, FIXED_LENGTH, 'ndp', 'ndp');
  const target = Buffer.from(msg.subarray(offset + 8, offset + 24));
  if (target[0] === 0xff) throw new FrameError('ndp', 'ndp.target', 'target is a multicast address', offset + 8);
  let ll: Mac | undefined;
  let o = offset + FIXED_LENGTH;
  for (let i = 0; o < end; i++) {
    needBytes(msg, o, 2, 'ndp', `ndp.option[${i}]`);
    const optType = msg[o];
    const optLen = msg[o + 1] * 8;
    if (optLen === 0) throw new FrameError('ndp', `ndp.option[${i}].length`, 'option length 0 (RFC 4861 §4.6: discard)', o + 1);
    needBytes(msg, o, optLen, 'ndp', `ndp.option[${i}]`);
    const wanted = type === ICMPV6_NEIGHBOR_SOLICITATION ? OPT_SOURCE_LL : OPT_TARGET_LL;
    // Link-layer options longer than one unit belong to other link types: not Ethernet's, ignore.
    if (optType === wanted && optLen === 8 && ll === undefined) ll = Buffer.from(msg.subarray(o + 2, o + 8));
    o += optLen;
  }
  if (type === ICMPV6_NEIGHBOR_SOLICITATION) {
    return ll ? { type, target, sourceLinkLayer: ll } : { type, target };
  }
  const flags = msg[offset + 4];
  const na: NeighborAdvertisement = {
    type,
    router: (flags & 0x80) !== 0,
    solicited: (flags & 0x40) !== 0,
    override: (flags & 0x20) !== 0,
    target,
  };
  if (ll) na.targetLinkLayer = ll;
  return na;
}
