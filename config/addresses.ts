// IP addresses, CIDRs and dash ranges as BigInt intervals (one code path for both families).
// ip-address does the IPv6 text parsing; IPv4 is checked with a strict dotted-quad pattern first,
// because lenient forms (leading zeros, "1.2.3") are ambiguous and Go's parser rejects them too.
import { Address6 } from 'ip-address';
import type { AddressRange, Family } from './model.js';

export interface ParsedIp {
  family: Family;
  value: bigint;
  /** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6. */
  text: string;
}

/** A parse result: the value, or why the text is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

export function bitsOf(family: Family): number {
  return family === 'ipv4' ? 32 : 128;
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 'ipv4') {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
  }
  return Address6.fromBigInt(value).correctForm();
}

export function parseIp(text: string): Parsed<ParsedIp> {
  if (IPV4.test(text)) {
    const value = text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
    return { ok: true, value: { family: 'ipv4', value, text: formatIp('ipv4', value) } };
  }
  if (!text.includes(':')) {
    return { ok: false, reason: `${JSON.stringify(text)} is not an IP address (expected e.g. 203.0.113.1 or 2001:db8::1)` };
  }
  if (text.length > 45 || !IPV6_CHARS.test(text)) {
    // 45 characters is the longest IPv6 text (with an embedded dotted quad).
    // Zones (%eth0), prefixes and brackets are not addresses.
    return { ok: false, reason: `${JSON.stringify(text)} is not an IPv6 address (no zone, prefix length or brackets allowed)` };
  }
  let parsed: Address6;
  let value: bigint;
  try {
    parsed = new Address6(text);
    value = parsed.bigInt();
  } catch {
    return { ok: false, reason: `${JSON.stringify(text)} is not a valid IPv6 address` };
  }
  if (value >> 32n === 0xffffn) {
    // Go (and so MetalLB) treats ::ffff:a.b.c.d as IPv4; write it as IPv4 so the family is unambiguous.
    const v4 = formatIp('ipv4', value & 0xffffffffn);
    return { ok: false, reason: `${JSON.stringify(text)} is an IPv4-mapped IPv6 address; write the IPv4 address ${v4} instead` };
  }
  return { ok: true, value: { family: 'ipv6', value, text: parsed.correctForm() } };
}

function maskBelow(bits: number, prefixLength: number): bigint {
  return (1n << BigInt(bits - prefixLength)) - 1n;
}

/** `203.0.113.0/24`, `2001:db8::/64` or `203.0.113.10-203.0.113.20` (spaces around the dash allowed). */
export function parseAddressEntry(input: string): Parsed<AddressRange> {
  const source = input.trim();
  if (source === '') return { ok: false, reason: 'empty address entry' };
  const example = 'expected a CIDR like 203.0.113.0/24 or 2001:db8::/64, or a range like 203.0.113.10-203.0.113.20';

  const dash = source.split('-');
  if (dash.length === 2) {
    const a = parseIp(dash[0].trim());
    const b = parseIp(dash[1].trim());
    if (!a.ok) return { ok: false, reason: `range start: ${a.reason}` };
    if (!b.ok) return { ok: false, reason: `range end: ${b.reason}` };
    if (a.value.family !== b.value.family) {
      return { ok: false, reason: `range ${JSON.stringify(source)} mixes IPv4 and IPv6` };
    }
    if (a.value.value > b.value.value) {
      return { ok: false, reason: `range ${JSON.stringify(source)} starts after it ends (${a.value.text} > ${b.value.text})` };
    }
    return { ok: true, value: { family: a.value.family, first: a.value.value, last: b.value.value, source } };
  }
  if (dash.length > 2) return { ok: false, reason: `${JSON.stringify(source)} has more than one dash; ${example}` };

  const slash = source.split('/');
  if (slash.length !== 2) return { ok: false, reason: `${JSON.stringify(source)} is neither a CIDR nor a range; ${example}` };
  const ip = parseIp(slash[0]);
  if (!ip.ok) return { ok: false, reason: ip.reason };
  const bits = bitsOf(ip.value.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(slash[1]) || Number(slash[1]) > bits) {
    return { ok: false, reason: `prefix length ${JSON.stringify(slash[1])} in ${JSON.stringify(source)} is not an integer from 0 to ${bits}` };
  }
  const prefixLength = Number(slash[1]);
  const hostMask = maskBelow(bits, prefixLength);
  const first = ip.value.value & ~hostMask;
  if (first !== ip.value.value) {
    // MetalLB masks these silently; a typo here would hand out addresses the user did not mean.
    const network = `${formatIp(ip.value.family, first)}/${prefixLength}`;
    return { ok: false, reason: `${JSON.stringify(source)} has host bits set: the network is ${network} (write that, or a dash range for part of it)` };
  }
  return { ok: true, value: { family: ip.value.family, first, last: first | hostMask, source, prefixLength } };
}

/** The fewest aligned CIDR blocks exactly covering [first, last], in order. At most 2 * bits blocks. */
export function rangeToCidrs(family: Family, first: bigint, last: bigint): { first: bigint; prefixLength: number }[] {
  const bits = bitsOf(family);
  const blocks: { first: bigint; prefixLength: number }[] = [];
  let cursor = first;
  while (cursor <= last) {
    // log2 of the block size: as large as the cursor's alignment and the remaining length allow.
    const align = cursor === 0n ? bits : (cursor & -cursor).toString(2).length - 1;
    const fits = (last - cursor + 1n).toString(2).length - 1;
    const size = Math.min(align, fits, bits);
    blocks.push({ first: cursor, prefixLength: bits - size });
    cursor += 1n << BigInt(size);
  }
  return blocks;
}
