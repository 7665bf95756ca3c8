// The ICMPv6 checksum (RFC 4443 §2.3): one's complement sum over the IPv6 pseudo-header
// (source, destination, upper-layer length, next header 58) and the ICMPv6 message.

function sum16(buf: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (i < end) s += buf[i] << 8;
  return s;
}

/**
 * Checksum of `icmp` (its checksum field counted as is: zero it to compute, leave it to verify —
 * a correct message then sums to 0).
 */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  let s = sum16(src, 0, 16, 0);
  s = sum16(dst, 0, 16, s);
  s += Math.floor(icmp.length / 0x10000) + (icmp.length & 0xffff);
  s += 58;
  s = sum16(icmp, 0, icmp.length, s);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
