// The fixed IPv6 header (RFC 8200) for the frames we build and parse; no extension headers.
import { FrameError, needBytes } from '../rawio/frame-error.js';

export const IPV6_HEADER_LENGTH = 40;
export const NEXT_HEADER_ICMPV6 = 58;

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Buffer;
  dst: Buffer;
}

export function encodingLength(_h: Ipv6Header): number {
  return IPV6_HEADER_LENGTH;
}

export function encode(h: Ipv6Header, buf: Buffer, offset = 0): number {
  if (h.src.length !== 16) throw new FrameError('ipv6', 'ipv6.src', 'address must be 16 bytes');
  if (h.dst.length !== 16) throw new FrameError('ipv6', 'ipv6.dst', 'address must be 16 bytes');
  if (h.payloadLength < 0 || h.payloadLength > 0xffff) throw new FrameError('ipv6', 'ipv6.payloadLength', `out of range: ${h.payloadLength}`);
  needBytes(buf, offset, IPV6_HEADER_LENGTH, 'ipv6', 'ipv6');
  buf.writeUInt32BE(((6 << 28) | ((h.trafficClass & 0xff) << 20) | (h.flowLabel & 0xfffff)) >>> 0, offset);
  buf.writeUInt16BE(h.payloadLength, offset + 4);
  buf[offset + 6] = h.nextHeader;
  buf[offset + 7] = h.hopLimit;
  h.src.copy(buf, offset + 8);
  h.dst.copy(buf, offset + 24);
  return IPV6_HEADER_LENGTH;
}

export function decode(buf: Buffer, offset = 0): Ipv6Header {
  needBytes(buf, offset, IPV6_HEADER_LENGTH, 'ipv6', 'ipv6');
  const w = buf.readUInt32BE(offset);
  const version = w >>> 28;
  if (version !== 6) throw new FrameError('ipv6', 'ipv6.version', `expected 6, got ${version}`, offset);
  return {
    trafficClass: (w >>> 20) & 0xff,
    flowLabel: w & 0xfffff,
    payloadLength: buf.readUInt16BE(offset + 4),
    nextHeader: buf[offset + 6],
    hopLimit: buf[offset + 7],
    src: Buffer.from(buf.subarray(offset + 8, offset + 24)),
    dst: Buffer.from(buf.subarray(offset + 24, offset + 40)),
  };
}
