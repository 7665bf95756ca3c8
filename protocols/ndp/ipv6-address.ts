// IPv6 addresses <-> 16 bytes, formatting in the RFC 5952 canonical form.
import { isIPv6 } from 'node:net';
import { FrameError } from '../rawio/frame-error.js';

export function parseIpv6(text: string): Buffer {
  if (!isIPv6(text) || text.includes('%')) throw new FrameError('address', 'ipv6', `not an IPv6 address: ${JSON.stringify(text)}`);
  let s = text;
  const out = Buffer.alloc(16);
  // An embedded dotted quad (::ffff:192.0.2.1) becomes two groups.
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    const q = s.slice(lastColon + 1).split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function formatIpv6(buf: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((buf[offset + i * 2] << 8) | buf[offset + i * 2 + 1]);
  // Longest run of at least two zero groups (first one on a tie) becomes `::`.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of an IPv6 address (lowercase, compressed), for use as a map key. */
export function canonicalIpv6(text: string): string {
  return formatIpv6(parseIpv6(text));
}
