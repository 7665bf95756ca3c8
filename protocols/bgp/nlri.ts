// NLRI wire form (RFC 4271 §4.3, RFC 4760 §5): one length octet, then the fewest octets that hold it.
import { BgpError, ErrorCode } from './errors.js';
import { Prefix, type AddressFamily } from './prefix.js';

export function prefixEncodingLength(p: Prefix): number {
  return 1 + ((p.length + 7) >> 3);
}

export function prefixesEncodingLength(list: readonly Prefix[]): number {
  let n = 0;
  for (const p of list) n += 1 + ((p.length + 7) >> 3);
  return n;
}

/** Write one prefix; returns bytes written. */
export function encodePrefix(p: Prefix, buf: Buffer, offset: number): number {
  const octets = (p.length + 7) >> 3;
  buf[offset] = p.length;
  if (p.family === 'ipv4') {
    const a = p.v4;
    if (octets > 0) buf[offset + 1] = a >>> 24;
    if (octets > 1) buf[offset + 2] = (a >>> 16) & 0xff;
    if (octets > 2) buf[offset + 3] = (a >>> 8) & 0xff;
    if (octets > 3) buf[offset + 4] = a & 0xff;
  } else {
    for (let i = 0; i < octets; i++) buf[offset + 1 + i] = p.v6[i];
  }
  return 1 + octets;
}

export function encodePrefixes(list: readonly Prefix[], buf: Buffer, offset: number): number {
  let o = offset;
  for (const p of list) o += encodePrefix(p, buf, o);
  return o - offset;
}

/**
 * Decode the prefixes in buf[start, end). A length beyond the family's maximum or running past
 * `end` throws BgpError(code, subcode) with the offending offset.
 */
export function decodePrefixes(
  buf: Buffer,
  start: number,
  end: number,
  family: AddressFamily,
  subcode: number,
  code: number = ErrorCode.UpdateMessage,
): Prefix[] {
  const out: Prefix[] = [];
  const max = family === 'ipv4' ? 32 : 128;
  let o = start;
  while (o < end) {
    const len = buf[o];
    if (len > max) throw new BgpError(code, subcode, `prefix length ${len} exceeds ${max}`, Buffer.alloc(0), o);
    const octets = (len + 7) >> 3;
    if (o + 1 + octets > end) throw new BgpError(code, subcode, `prefix of length ${len} runs past its field`, Buffer.alloc(0), o);
    if (family === 'ipv4') {
      let a = 0;
      for (let i = 0; i < 4; i++) a = a * 256 + (i < octets ? buf[o + 1 + i] : 0);
      out.push(Prefix.v4(a, len));
    } else {
      const bytes = new Uint8Array(16);
      for (let i = 0; i < octets; i++) bytes[i] = buf[o + 1 + i];
      out.push(Prefix.v6(bytes, len));
    }
    o += 1 + octets;
  }
  return out;
}
