// IP text <-> number and prefix masking for route computation. Own code rather than a library so the
// printed form is fixed: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, longest zero run as ::).
import type { Family } from '../config/model.js';
import { formatIpv6 } from '../protocols/ndp/ipv6-address.js';

export interface IpValue {
  family: Family;
  value: bigint;
}

export class IpParseError extends Error {
  readonly input: string;
  constructor(input: string, why: string) {
    super(`invalid IP address ${JSON.stringify(input)}: ${why}`);
    this.name = 'IpParseError';
    this.input = input;
  }
}

export function familyBits(family: Family): number {
  return family === 'ipv4' ? 32 : 128;
}

function parseV4(text: string, input: string): bigint {
  const parts = text.split('.');
  if (parts.length !== 4) throw new IpParseError(input, 'IPv4 needs 4 dotted parts');
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) {
      throw new IpParseError(input, `bad IPv4 part ${JSON.stringify(part)}`);
    }
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseGroups(text: string, input: string): number[] {
  if (text === '') return [];
  return text.split(':').map((group) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) throw new IpParseError(input, `bad IPv6 group ${JSON.stringify(group)}`);
    return parseInt(group, 16);
  });
}

function parseV6(text: string, input: string): bigint {
  let body = text;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseV4(last, input);
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    body = body.slice(0, lastColon + 1);
    // Drop the separator before the tail, unless it is the second half of a "::".
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) throw new IpParseError(input, 'more than one "::"');
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0], input);
    const rest = [...parseGroups(halves[1], input), ...tail];
    const missing = 8 - head.length - rest.length;
    if (missing < 1) throw new IpParseError(input, '"::" stands for no group');
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    groups = [...parseGroups(body, input), ...tail];
  }
  if (groups.length !== 8) throw new IpParseError(input, `IPv6 needs 8 groups, got ${groups.length}`);
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parse an IPv4 or IPv6 address (no prefix, no zone). */
export function parseIp(input: string): IpValue {
  if (input.includes(':')) return { family: 'ipv6', value: parseV6(input, input) };
  if (input.includes('.')) return { family: 'ipv4', value: parseV4(input, input) };
  throw new IpParseError(input, 'neither IPv4 nor IPv6');
}

export function formatIp(ip: IpValue): string {
  if (ip.family === 'ipv4') {
    return [24n, 16n, 8n, 0n].map((shift) => String((ip.value >> shift) & 0xffn)).join('.');
  }
  // RFC 5952 text, by the NDP module's formatter (one implementation of the zero-run rules).
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number((ip.value >> BigInt((15 - i) * 8)) & 0xffn);
  return formatIpv6(bytes);
}

/** The network address of `ip` in a prefix of `length` bits (host bits cleared). */
export function maskIp(ip: IpValue, length: number): IpValue {
  const bits = familyBits(ip.family);
  const hostBits = BigInt(bits - length);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << hostBits) - 1n);
  return { family: ip.family, value: ip.value & mask };
}
