// IP address text <-> number for the allocator: strict parsing, RFC 5952 formatting,
// and the "buggy firmware" address test. Pure. The allocator works on Addr (address.ts: a number for
// IPv4, a bigint for IPv6); parseIp/formatIp speak bigint for both, as the config does.
import type { Family } from '../config/model.js';
import { toAddr, toBigInt, type Addr } from './address.js';

export interface ParsedIp {
  family: Family;
  num: bigint;
}

// Hand-written scanners rather than split/regex: these run once per allocation and restore.

/** Parses a dotted quad in text[from, to); no leading zeros (they read as octal in some tools). */
function parseV4(text: string, from = 0, to = text.length): number | undefined {
  let n = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    const start = i;
    let v = 0;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && text.charCodeAt(start) === 48)) return undefined;
    n = n * 256 + v;
    parts++;
    if (parts < 4) {
      if (i >= to || text.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === to ? n : undefined;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Scratch the IPv6 parser writes its 8 groups to (never escapes this module). */
const PARSED: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

/** Parses an IPv6 text into PARSED; false when it is not one. */
function parseV6Groups(text: string): boolean {
  const n = text.length;
  const groups = PARSED;
  let count = 0;
  let gap = -1; // index in groups where "::" stands
  let i = 0;
  if (n < 2) return false;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let v = 0;
    while (i < n && i - start < 5) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // A trailing dotted quad (::ffff:192.0.2.1) counts as two groups.
      const v4 = parseV4(text, start, n);
      if (v4 === undefined || count > 6) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    if (i === start || i - start > 4 || count > 7) return false;
    groups[count++] = v;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false; // anything else, zone indexes included
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) return false;
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  if (gap >= 0) {
    // Move the groups after "::" to the end and zero the run.
    const after = count - gap;
    for (let k = 0; k < after; k++) groups[7 - k] = groups[count - 1 - k];
    for (let k = gap; k < 8 - after; k++) groups[k] = 0;
  }
  return true;
}

function parseV6(text: string): bigint | undefined {
  if (!parseV6Groups(text)) return undefined;
  const g = PARSED;
  const w0 = BigInt(g[0] * 65536 + g[1]);
  const w1 = BigInt(g[2] * 65536 + g[3]);
  const w2 = BigInt(g[4] * 65536 + g[5]);
  const w3 = BigInt(g[6] * 65536 + g[7]);
  return (w0 << 96n) | (w1 << 64n) | (w2 << 32n) | w3;
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone) to an Addr; undefined when it is not one. */
export function parseAddr(text: string): Addr | undefined {
  return text.indexOf(':') >= 0 ? parseV6(text) : parseV4(text);
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone); undefined when it is not one. */
export function parseIp(text: string): ParsedIp | undefined {
  const a = parseAddr(text);
  return a === undefined ? undefined : { family: typeof a === 'number' ? 'ipv4' : 'ipv6', num: toBigInt(a) };
}

const OCTET: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** The last /24 formatted ("a.b.c."): allocations walk addresses in order, so it is nearly always this one. */
let v4Block = -1;
let v4Prefix = '';

/**
 * A dotted quad from a table of octets and the cached /24 prefix. Only results shorter than 13
 * characters are concatenated: V8 makes those flat, longer ones a cons string that costs twice the
 * memory once flattened, so those are joined (join yields a flat string).
 */
function formatV4(n: number): string {
  const block = n >>> 8;
  if (block !== v4Block) {
    v4Block = block;
    v4Prefix = `${OCTET[n >>> 24]}.${OCTET[(n >>> 16) & 255]}.${OCTET[block & 255]}.`;
  }
  const last = OCTET[n & 255];
  return v4Prefix.length + last.length < 13 ? v4Prefix + last : [v4Prefix, last].join('');
}

/** Scratch for formatV6 (never escapes it). */
const GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
const TEXT = Buffer.alloc(39);
const HEX_DIGIT = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

/**
 * The 2^16-aligned block of the last IPv6 address formatted (its first address and its last) and, in
 * BLOCK_CODES[n], the character codes of its text up to the last group followed by room for n hex digits.
 * Allocations walk a pool in order, so nearly every address falls in the block of the one before: it
 * costs two bigint compares, one subtraction, its last group's hex digits and one String.fromCharCode
 * (a flat one-byte string, about three times cheaper than decoding a Buffer), where the full path costs
 * four bigint shifts and masks and the zero-run search. Valid for the block's addresses whose last group
 * is not 0: the compressed zero run then lies in the first seven groups and does not depend on its value.
 */
let v6Block = -1n;
let v6BlockLast = -1n;
let blockPrefixLength = 0;
const BLOCK_CODES: number[][] = [[], [], [], [], []];

/** Canonical text: dotted quad, or RFC 5952 (lowercase, longest zero run of >= 2 compressed, first on ties). */
export function formatAddr(a: Addr): string {
  return typeof a === 'number' ? formatV4(a) : formatV6(a);
}

/** formatAddr for the config's bigint. */
export function formatIp(family: Family, num: bigint): string {
  return formatAddr(toAddr(family, num));
}

function setWord(k: number, word: number): void {
  GROUPS[k] = word >>> 16;
  GROUPS[k + 1] = word & 0xffff;
}

// Groups as numbers (four 32-bit words), written as ASCII into one buffer and decoded once: this runs
// once per IPv6 allocation, and per-group hex strings joined cost twice as much (and give the same flat string).
function formatV6(num: bigint): string {
  if (num > v6Block && num <= v6BlockLast) {
    const g = Number(num - v6Block);
    const codes = BLOCK_CODES[hexLength(g)];
    let o = blockPrefixLength;
    if (g >= 0x1000) codes[o++] = HEX_DIGIT[g >>> 12];
    if (g >= 0x100) codes[o++] = HEX_DIGIT[(g >>> 8) & 15];
    if (g >= 0x10) codes[o++] = HEX_DIGIT[(g >>> 4) & 15];
    codes[o] = HEX_DIGIT[g & 15];
    return String.fromCharCode(...codes);
  }
  const high = num >> 64n;
  setWord(0, Number(high >> 32n));
  setWord(2, Number(BigInt.asUintN(32, high)));
  const low = BigInt.asUintN(64, num);
  setWord(4, Number(low >> 32n));
  setWord(6, Number(BigInt.asUintN(32, low)));
  const last = GROUPS[7];
  const length = writeV6(GROUPS);
  if (last !== 0) {
    // This address's text is its block's prefix and its last group's digits.
    v6Block = num - BigInt(last);
    v6BlockLast = v6Block + 0xffffn;
    blockPrefixLength = length - hexLength(last);
    for (let n = 1; n <= 4; n++) {
      const codes: number[] = [];
      for (let i = 0; i < blockPrefixLength + n; i++) codes.push(i < blockPrefixLength ? TEXT[i] : 48);
      BLOCK_CODES[n] = codes;
    }
  }
  return TEXT.toString('latin1', 0, length);
}

function hexLength(g: number): number {
  return g >= 0x1000 ? 4 : g >= 0x100 ? 3 : g >= 0x10 ? 2 : 1;
}

/** Writes g (0..0xffff) in lowercase hex without leading zeros at out[o]; returns the end offset. */
function writeHex(out: Buffer, o: number, g: number): number {
  if (g >= 0x1000) out[o++] = HEX_DIGIT[g >>> 12];
  if (g >= 0x100) out[o++] = HEX_DIGIT[(g >>> 8) & 15];
  if (g >= 0x10) out[o++] = HEX_DIGIT[(g >>> 4) & 15];
  out[o++] = HEX_DIGIT[g & 15];
  return o;
}

/** Writes the RFC 5952 text of `groups` into TEXT; returns its length. */
function writeV6(groups: readonly number[]): number {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const out = TEXT;
  let o = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out[o++] = 58;
      out[o++] = 58;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) out[o++] = 58;
    o = writeHex(out, o, groups[i]);
  }
  return o;
}

/** Canonical form of an address text, or undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  if (text.indexOf(':') < 0) {
    // parseV4 accepts only the canonical dotted quad (no leading zeros): the text is its own form.
    return parseV4(text) === undefined ? undefined : text;
  }
  // No BigInt: the groups are written back as text and, when that is the text given (nearly always,
  // for what the API server stores), the given string is returned: no new one per status read.
  if (!parseV6Groups(text)) return undefined;
  const length = writeV6(PARSED);
  if (length === text.length) {
    let same = true;
    for (let i = 0; i < length && same; i++) same = TEXT[i] === text.charCodeAt(i);
    if (same) return text;
  }
  return TEXT.toString('latin1', 0, length);
}

/**
 * Addresses ending in .0 or .255: some old client stacks treat them as network or broadcast
 * addresses even inside a larger subnet, so `avoid-buggy-ips` never hands them out. IPv4 only.
 */
export function isBuggyAddr(a: Addr): boolean {
  if (typeof a !== 'number') return false;
  const low = a % 256;
  return low === 0 || low === 255;
}

/** isBuggyAddr for the config's bigint. */
export function isBuggyIp(family: Family, num: bigint): boolean {
  return isBuggyAddr(toAddr(family, num));
}

/** The lowest address >= a that avoid-buggy-ips lets a pool hand out (a itself for IPv6). */
export function skipBuggy(a: Addr): Addr {
  if (typeof a !== 'number') return a;
  const low = a % 256;
  return low === 255 ? a + 2 : low === 0 ? a + 1 : a;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** How many addresses in [first, last] end in .0 or .255 (IPv4). */
export function countBuggy(first: bigint, last: bigint): bigint {
  const congruent = (r: bigint): bigint => floorDiv(last - r, 256n) - floorDiv(first - 1n - r, 256n);
  return congruent(0n) + congruent(255n);
}
