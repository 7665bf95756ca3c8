// Addresses and prefixes. The API takes strings ("203.0.113.10/32", "2001:db8::1/128"); they are
// parsed once into a Prefix (uint32 for IPv4, 16 bytes for IPv6) so the encoder never parses.
import { PrefixError } from './errors.js';

export { PrefixError };

export type AddressFamily = 'ipv4' | 'ipv6';

const NO_BYTES = new Uint8Array(0);

/** A parsed, canonical prefix (host bits are zero). Immutable by convention. */
export class Prefix {
  readonly family: AddressFamily;
  readonly length: number;
  /** IPv4 address as an unsigned 32-bit number; 0 for IPv6. */
  readonly v4: number;
  /** IPv6 address (16 bytes); empty for IPv4. */
  readonly v6: Uint8Array;

  constructor(family: AddressFamily, length: number, v4: number, v6: Uint8Array) {
    this.family = family;
    this.length = length;
    this.v4 = v4;
    this.v6 = v6;
  }

  static v4(address: number, length: number): Prefix {
    return new Prefix('ipv4', length, maskV4(address, length), NO_BYTES);
  }

  static v6(address: Uint8Array, length: number): Prefix {
    return new Prefix('ipv6', length, 0, maskV6(address, length));
  }

  /** "203.0.113.10/32" or "2001:db8::1/128" (canonical text, usable as a map key). */
  toString(): string {
    return this.family === 'ipv4' ? `${formatIPv4(this.v4)}/${this.length}` : `${formatIPv6(this.v6)}/${this.length}`;
  }

  equals(other: Prefix): boolean {
    if (this.family !== other.family || this.length !== other.length) return false;
    if (this.family === 'ipv4') return this.v4 === other.v4;
    for (let i = 0; i < 16; i++) if (this.v6[i] !== other.v6[i]) return false;
    return true;
  }
}

function maskV4(address: number, length: number): number {
  return length === 0 ? 0 : (address & (0xffffffff << (32 - length))) >>> 0;
}

function maskV6(address: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = length - i * 8;
    out[i] = bits >= 8 ? address[i] : bits <= 0 ? 0 : address[i] & (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/**
 * Parse "a.b.c.d/len" or "x:y::z/len". A bare address is a host route (/32 or /128).
 * Host bits set beyond the length are an error (they usually mean a typo).
 */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const isV6 = addr.includes(':');
  const max = isV6 ? 128 : 32;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw new PrefixError(text, `prefix length must be 0..${max}`);
    length = Number(lenText);
  }
  if (isV6) {
    const bytes = parseIPv6(addr, text);
    const p = Prefix.v6(bytes, length);
    for (let i = 0; i < 16; i++) if (p.v6[i] !== bytes[i]) throw new PrefixError(text, 'host bits set beyond the prefix length');
    return p;
  }
  const v4 = parseIPv4(addr, text);
  const p = Prefix.v4(v4, length);
  if (p.v4 !== v4) throw new PrefixError(text, 'host bits set beyond the prefix length');
  return p;
}

/** Parse a dotted quad to an unsigned 32-bit number. */
export function parseIPv4(text: string, context = text): number {
  // Fast path without regex or split: digits and three dots, no leading zeros, octets <= 255.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let ok = text.length >= 7 && text.length <= 15;
  for (let i = 0; ok && i <= text.length; i++) {
    const ch = i === text.length ? 46 : text.charCodeAt(i);
    if (ch === 46) {
      ok = digits > 0 && octet <= 255;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      ok = !(digits === 1 && octet === 0) && digits < 3;
      octet = octet * 10 + (ch - 48);
      digits++;
    } else ok = false;
  }
  if (ok && dots === 4) return value;
  return parseIPv4Slow(text, context);
}

/** The careful parser: only reached for invalid input, to name the problem. */
function parseIPv4Slow(text: string, context: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new PrefixError(context, 'IPv4 address needs four dotted parts');
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) throw new PrefixError(context, `bad IPv4 octet ${JSON.stringify(part)}`);
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** Parse an IPv6 address (with optional embedded IPv4 tail) into 16 bytes. */
export function parseIPv6(text: string, context = text): Uint8Array {
  const out = new Uint8Array(16);
  const doubleColon = text.indexOf('::');
  if (doubleColon >= 0 && text.indexOf('::', doubleColon + 1) >= 0) throw new PrefixError(context, 'more than one "::"');
  const head = doubleColon >= 0 ? text.slice(0, doubleColon) : text;
  const tail = doubleColon >= 0 ? text.slice(doubleColon + 2) : '';
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out16: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4(part, context);
        out16.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) throw new PrefixError(context, `bad IPv6 group ${JSON.stringify(part)}`);
        out16.push(parseInt(part, 16));
      }
    }
    return out16;
  };
  const h = groups(head);
  const t = groups(tail);
  if (doubleColon < 0 ? h.length !== 8 : h.length + t.length > 7) throw new PrefixError(context, 'IPv6 address needs eight groups');
  const all = doubleColon < 0 ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = all[i] >>> 8;
    out[i * 2 + 1] = all[i] & 0xff;
  }
  return out;
}

/** RFC 5952 text form: lowercase, longest zero run (>= 2 groups) as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Parse an address of either family: the result says which. */
export function parseAddress(text: string): { family: AddressFamily; v4: number; v6: Uint8Array } {
  if (text.includes(':')) return { family: 'ipv6', v4: 0, v6: parseIPv6(text) };
  return { family: 'ipv4', v4: parseIPv4(text), v6: NO_BYTES };
}

/** True for fe80::/10. */
export function isLinkLocalV6(bytes: Uint8Array): boolean {
  return bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80;
}
