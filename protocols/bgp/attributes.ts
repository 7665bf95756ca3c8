// Path attributes (RFC 4271 §4.3/§5, RFC 1997, RFC 4760, RFC 6793, RFC 8092) with the
// error handling of RFC 7606: most malformed attributes make the UPDATE "treat-as-withdraw"
// or are discarded instead of resetting the session.
import { Afi, Safi } from './capabilities.js';
import { BgpError, ErrorCode, UpdateSubcode } from './errors.js';
import { decodePrefixes, encodePrefixes, prefixesEncodingLength } from './nlri.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6, type AddressFamily, type Prefix } from './prefix.js';
import { AS_TRANS } from './open.js';

export const AttrType = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  MultiExitDisc: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  MpReachNlri: 14,
  MpUnreachNlri: 15,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunity: 32,
} as const;

export const AttrFlag = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, ExtendedLength: 0x10 } as const;

export const Origin = { Igp: 0, Egp: 1, Incomplete: 2 } as const;
export const AsPathSegmentType = { Set: 1, Sequence: 2, ConfedSequence: 3, ConfedSet: 4 } as const;

export interface AsPathSegment {
  type: number;
  asns: number[];
}

export interface LargeCommunity {
  globalAdmin: number;
  localData1: number;
  localData2: number;
}

export interface Aggregator {
  asn: number;
  address: string;
}

/** MP_REACH_NLRI for IPv4/IPv6 unicast; other AFI/SAFI are kept as raw attributes. */
export interface MpReach {
  afi: number;
  safi: number;
  /** Global next hop (IPv4 or IPv6 text). */
  nextHop: string;
  /** IPv6 link-local next hop, sent as the second half of a 32-octet next hop. */
  nextHopLinkLocal?: string;
  nlri: Prefix[];
}

export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: Prefix[];
}

/** An attribute kept as bytes: unrecognized optional attributes, MP attributes of other families. */
export interface RawAttribute {
  flags: number;
  typeCode: number;
  value: Buffer;
}

export interface PathAttributes {
  origin?: number;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: Aggregator;
  communities?: number[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  as4Path?: AsPathSegment[];
  as4Aggregator?: Aggregator;
  largeCommunities?: LargeCommunity[];
  other?: RawAttribute[];
}

/** What the session negotiated that changes the wire format. */
export interface CodecContext {
  /** RFC 6793: both sides sent the 4-octet AS capability. */
  fourByteAs: boolean;
  /** 4096, or 65535 with RFC 8654 extended messages. */
  maxMessageLength: number;
}

export const defaultCodecContext: CodecContext = { fourByteAs: true, maxMessageLength: 4096 };

/** How RFC 7606 says a malformed attribute is handled (short of a session reset, which throws). */
export type MalformedAction = 'treat-as-withdraw' | 'attribute-discard';

export interface MalformedAttribute {
  action: MalformedAction;
  /** The error RFC 4271 alone would have sent; kept for logs. */
  error: BgpError;
  /** The attribute's type code, when the attribute header could be read. */
  attrType?: number;
}

// ---------------------------------------------------------------- encoding

const WELL_KNOWN = AttrFlag.Transitive;
const OPTIONAL_TRANSITIVE = AttrFlag.Optional | AttrFlag.Transitive;
const OPTIONAL = AttrFlag.Optional;

/** Expected Optional/Transitive flags per recognized type. */
const EXPECTED_FLAGS: Record<number, number> = {
  [AttrType.Origin]: WELL_KNOWN,
  [AttrType.AsPath]: WELL_KNOWN,
  [AttrType.NextHop]: WELL_KNOWN,
  [AttrType.MultiExitDisc]: OPTIONAL,
  [AttrType.LocalPref]: WELL_KNOWN,
  [AttrType.AtomicAggregate]: WELL_KNOWN,
  [AttrType.Aggregator]: OPTIONAL_TRANSITIVE,
  [AttrType.Communities]: OPTIONAL_TRANSITIVE,
  [AttrType.MpReachNlri]: OPTIONAL,
  [AttrType.MpUnreachNlri]: OPTIONAL,
  [AttrType.As4Path]: OPTIONAL_TRANSITIVE,
  [AttrType.As4Aggregator]: OPTIONAL_TRANSITIVE,
  [AttrType.LargeCommunity]: OPTIONAL_TRANSITIVE,
};

interface AttrPart {
  flags: number;
  type: number;
  length: number;
  write: (buf: Buffer, offset: number) => void;
}

function splitSegments(path: readonly AsPathSegment[]): AsPathSegment[] {
  // A segment holds at most 255 ASNs; longer ones are split into consecutive segments.
  const out: AsPathSegment[] = [];
  for (const s of path) {
    if (s.asns.length <= 255) out.push(s);
    else for (let i = 0; i < s.asns.length; i += 255) out.push({ type: s.type, asns: s.asns.slice(i, i + 255) });
  }
  return out;
}

function asPathPart(type: number, path: readonly AsPathSegment[], asSize: 2 | 4, mapAs: (a: number) => number): AttrPart {
  const segs = splitSegments(path);
  let length = 0;
  for (const s of segs) length += 2 + asSize * s.asns.length;
  return {
    flags: EXPECTED_FLAGS[type],
    type,
    length,
    write: (buf, o) => {
      for (const s of segs) {
        buf[o] = s.type;
        buf[o + 1] = s.asns.length;
        o += 2;
        for (const a of s.asns) {
          if (asSize === 4) buf.writeUInt32BE(a >>> 0, o);
          else buf.writeUInt16BE(mapAs(a), o);
          o += asSize;
        }
      }
    },
  };
}

function aggregatorPart(type: number, agg: Aggregator, asSize: 2 | 4): AttrPart {
  const address = parseIPv4(agg.address);
  return {
    flags: EXPECTED_FLAGS[type],
    type,
    length: asSize + 4,
    write: (buf, o) => {
      if (asSize === 4) buf.writeUInt32BE(agg.asn >>> 0, o);
      else buf.writeUInt16BE(agg.asn > 0xffff ? AS_TRANS : agg.asn, o);
      buf.writeUInt32BE(address, o + asSize);
    },
  };
}

function u32Part(type: number, value: number): AttrPart {
  return { flags: EXPECTED_FLAGS[type], type, length: 4, write: (buf, o) => void buf.writeUInt32BE(value >>> 0, o) };
}

function familyOf(afi: number): AddressFamily {
  return afi === Afi.IPv6 ? 'ipv6' : 'ipv4';
}

function nextHopBytes(mp: MpReach): Buffer {
  const parts: Uint8Array[] = [];
  if (mp.nextHop.includes(':')) parts.push(parseIPv6(mp.nextHop));
  else {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(parseIPv4(mp.nextHop));
    parts.push(b);
  }
  if (mp.nextHopLinkLocal !== undefined) parts.push(parseIPv6(mp.nextHopLinkLocal));
  return Buffer.concat(parts);
}

/** MP_REACH_NLRI with nlri given separately (the packed encoder writes its own). */
export function mpReachHeaderBytes(mp: Omit<MpReach, 'nlri'>): Buffer {
  const nh = nextHopBytes({ ...mp, nlri: [] });
  const b = Buffer.alloc(5 + nh.length);
  b.writeUInt16BE(mp.afi, 0);
  b[2] = mp.safi;
  b[3] = nh.length;
  nh.copy(b, 4);
  b[4 + nh.length] = 0; // reserved
  return b;
}

function attributeParts(a: PathAttributes, ctx: CodecContext): AttrPart[] {
  const parts: AttrPart[] = [];
  if (a.origin !== undefined) {
    const v = a.origin;
    parts.push({ flags: WELL_KNOWN, type: AttrType.Origin, length: 1, write: (buf, o) => void (buf[o] = v) });
  }
  let as4Path = ctx.fourByteAs ? undefined : a.as4Path;
  let as4Aggregator = ctx.fourByteAs ? undefined : a.as4Aggregator;
  if (a.asPath !== undefined) {
    if (ctx.fourByteAs) parts.push(asPathPart(AttrType.AsPath, a.asPath, 4, (x) => x));
    else {
      // RFC 6793 §4.2.2: a 2-octet peer sees AS_TRANS, and the real path rides in AS4_PATH.
      const wide = a.asPath.some((s) => s.asns.some((x) => x > 0xffff));
      if (wide && as4Path === undefined) as4Path = a.asPath;
      parts.push(asPathPart(AttrType.AsPath, a.asPath, 2, (x) => (x > 0xffff ? AS_TRANS : x)));
    }
  }
  if (a.nextHop !== undefined) parts.push(u32Part(AttrType.NextHop, parseIPv4(a.nextHop)));
  if (a.med !== undefined) parts.push(u32Part(AttrType.MultiExitDisc, a.med));
  if (a.localPref !== undefined) parts.push(u32Part(AttrType.LocalPref, a.localPref));
  if (a.atomicAggregate) parts.push({ flags: WELL_KNOWN, type: AttrType.AtomicAggregate, length: 0, write: () => undefined });
  if (a.aggregator !== undefined) {
    const agg = a.aggregator;
    if (!ctx.fourByteAs && agg.asn > 0xffff && as4Aggregator === undefined) as4Aggregator = agg;
    parts.push(aggregatorPart(AttrType.Aggregator, agg, ctx.fourByteAs ? 4 : 2));
  }
  if (a.communities !== undefined && a.communities.length > 0) {
    const cs = a.communities;
    parts.push({
      flags: OPTIONAL_TRANSITIVE,
      type: AttrType.Communities,
      length: 4 * cs.length,
      write: (buf, o) => {
        for (const c of cs) {
          buf.writeUInt32BE(c >>> 0, o);
          o += 4;
        }
      },
    });
  }
  if (a.mpReach !== undefined) {
    const mp = a.mpReach;
    const head = mpReachHeaderBytes(mp);
    parts.push({
      flags: OPTIONAL,
      type: AttrType.MpReachNlri,
      length: head.length + prefixesEncodingLength(mp.nlri),
      write: (buf, o) => {
        head.copy(buf, o);
        encodePrefixes(mp.nlri, buf, o + head.length);
      },
    });
  }
  if (a.mpUnreach !== undefined) {
    const mp = a.mpUnreach;
    parts.push({
      flags: OPTIONAL,
      type: AttrType.MpUnreachNlri,
      length: 3 + prefixesEncodingLength(mp.withdrawn),
      write: (buf, o) => {
        buf.writeUInt16BE(mp.afi, o);
        buf[o + 2] = mp.safi;
        encodePrefixes(mp.withdrawn, buf, o + 3);
      },
    });
  }
  if (as4Path !== undefined) parts.push(asPathPart(AttrType.As4Path, as4Path, 4, (x) => x));
  if (as4Aggregator !== undefined) parts.push(aggregatorPart(AttrType.As4Aggregator, as4Aggregator, 4));
  if (a.largeCommunities !== undefined && a.largeCommunities.length > 0) {
    const ls = a.largeCommunities;
    parts.push({
      flags: OPTIONAL_TRANSITIVE,
      type: AttrType.LargeCommunity,
      length: 12 * ls.length,
      write: (buf, o) => {
        for (const l of ls) {
          buf.writeUInt32BE(l.globalAdmin >>> 0, o);
          buf.writeUInt32BE(l.localData1 >>> 0, o + 4);
          buf.writeUInt32BE(l.localData2 >>> 0, o + 8);
          o += 12;
        }
      },
    });
  }
  for (const r of a.other ?? []) {
    const value = r.value;
    parts.push({ flags: r.flags & ~AttrFlag.ExtendedLength, type: r.typeCode, length: value.length, write: (buf, o) => void value.copy(buf, o) });
  }
  // Ascending type code order (RFC 4271 §5 recommends it; receivers accept any order).
  parts.sort((x, y) => x.type - y.type);
  return parts;
}

function partLength(p: AttrPart): number {
  return (p.length > 255 ? 4 : 3) + p.length;
}

/** Bytes of the encoded path attributes (the Path Attributes field, without its length). */
export function attributesEncodingLength(a: PathAttributes, ctx: CodecContext = defaultCodecContext): number {
  let n = 0;
  for (const p of attributeParts(a, ctx)) n += partLength(p);
  return n;
}

/** Write the Path Attributes field; returns bytes written. */
export function encodeAttributes(a: PathAttributes, buf: Buffer, offset: number, ctx: CodecContext = defaultCodecContext): number {
  let o = offset;
  for (const p of attributeParts(a, ctx)) {
    const extended = p.length > 255;
    buf[o] = p.flags | (extended ? AttrFlag.ExtendedLength : 0);
    buf[o + 1] = p.type;
    if (extended) {
      buf.writeUInt16BE(p.length, o + 2);
      o += 4;
    } else {
      buf[o + 2] = p.length;
      o += 3;
    }
    p.write(buf, o);
    o += p.length;
  }
  return o - offset;
}

/** Encode attributes into a fresh Buffer (done once per advertisement class, off the hot path). */
export function attributesToBuffer(a: PathAttributes, ctx: CodecContext = defaultCodecContext): Buffer {
  const buf = Buffer.alloc(attributesEncodingLength(a, ctx));
  encodeAttributes(a, buf, 0, ctx);
  return buf;
}

// ---------------------------------------------------------------- decoding

export interface DecodedAttributes {
  attributes: PathAttributes;
  malformed: MalformedAttribute[];
}

function attrData(buf: Buffer, start: number, end: number): Buffer {
  return Buffer.from(buf.subarray(start, end));
}

function decodeAsPath(buf: Buffer, start: number, end: number, asSize: number): AsPathSegment[] | undefined {
  const segs: AsPathSegment[] = [];
  let o = start;
  while (o < end) {
    if (o + 2 > end) return undefined;
    const type = buf[o];
    const count = buf[o + 1];
    if (type < 1 || type > 4 || count === 0 || o + 2 + count * asSize > end) return undefined;
    const asns: number[] = [];
    for (let i = 0; i < count; i++) asns.push(asSize === 4 ? buf.readUInt32BE(o + 2 + 4 * i) : buf.readUInt16BE(o + 2 + 2 * i));
    segs.push({ type, asns });
    o += 2 + count * asSize;
  }
  return segs;
}

function decodeNextHopField(buf: Buffer, start: number, len: number, afi: number): { nextHop: string; nextHopLinkLocal?: string } | undefined {
  if (afi === Afi.IPv4 && len === 4) return { nextHop: formatIPv4(buf.readUInt32BE(start)) };
  if (len === 16) return { nextHop: formatIPv6(buf.subarray(start, start + 16)) };
  if (len === 32) return { nextHop: formatIPv6(buf.subarray(start, start + 16)), nextHopLinkLocal: formatIPv6(buf.subarray(start + 16, start + 32)) };
  return undefined;
}

/**
 * Decode the Path Attributes field buf[start, end). Errors that RFC 7606 says reset the session
 * throw BgpError; the others are returned in `malformed` with the action to take.
 */
export function decodeAttributes(buf: Buffer, start: number, end: number, ctx: CodecContext = defaultCodecContext): DecodedAttributes {
  const a: PathAttributes = {};
  const malformed: MalformedAttribute[] = [];
  const seen = new Set<number>();
  /** Type of the attribute being decoded (undefined while its header is not read). */
  let current: number | undefined;
  const mark = (action: MalformedAction, subcode: number, why: string, data: Buffer, at: number): void => {
    const m: MalformedAttribute = { action, error: new BgpError(ErrorCode.UpdateMessage, subcode, why, data, at) };
    if (current !== undefined) m.attrType = current;
    malformed.push(m);
  };
  let o = start;
  while (o < end) {
    current = undefined;
    const remaining = end - o;
    const flags = buf[o];
    const headerLen = flags & AttrFlag.ExtendedLength ? 4 : 3;
    if (remaining < headerLen) {
      // RFC 7606 §4: too few octets for an attribute header: treat-as-withdraw, NLRI still located.
      mark('treat-as-withdraw', UpdateSubcode.MalformedAttributeList, `${remaining} trailing octets cannot hold an attribute header`, Buffer.alloc(0), o);
      break;
    }
    const type = buf[o + 1];
    current = type;
    const len = headerLen === 4 ? buf.readUInt16BE(o + 2) : buf[o + 2];
    const v = o + headerLen;
    if (v + len > end) {
      // RFC 7606 §4: an attribute overrunning the field: treat-as-withdraw.
      mark('treat-as-withdraw', UpdateSubcode.MalformedAttributeList, `attribute type ${type} length ${len} overruns the path attributes`, Buffer.alloc(0), o);
      break;
    }
    const whole = attrData(buf, o, v + len);
    const next = v + len;
    const isMp = type === AttrType.MpReachNlri || type === AttrType.MpUnreachNlri;
    if (seen.has(type)) {
      // RFC 7606 §3g: repeated MP attributes reset the session; other repeats are dropped.
      if (isMp) throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList, `attribute type ${type} appears twice`, Buffer.alloc(0), o);
      mark('attribute-discard', UpdateSubcode.MalformedAttributeList, `attribute type ${type} repeated; later copy discarded`, whole, o);
      o = next;
      continue;
    }
    seen.add(type);
    const expected = EXPECTED_FLAGS[type];
    if (expected === undefined) {
      if ((flags & AttrFlag.Optional) === 0) {
        throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.UnrecognizedWellKnownAttribute, `unrecognized well-known attribute type ${type}`, whole, o);
      }
      (a.other ??= []).push({ flags: flags & ~AttrFlag.ExtendedLength, typeCode: type, value: attrData(buf, v, next) });
      o = next;
      continue;
    }
    if ((flags & (AttrFlag.Optional | AttrFlag.Transitive)) !== expected) {
      if (isMp) throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.AttributeFlagsError, `attribute type ${type} flags 0x${flags.toString(16)}`, whole, o);
      mark('treat-as-withdraw', UpdateSubcode.AttributeFlagsError, `attribute type ${type} flags 0x${flags.toString(16)}`, whole, o);
      o = next;
      continue;
    }
    const lengthError = (action: MalformedAction): void => mark(action, UpdateSubcode.AttributeLengthError, `attribute type ${type} length ${len}`, whole, o);
    switch (type) {
      case AttrType.Origin:
        if (len !== 1) lengthError('treat-as-withdraw');
        else if (buf[v] > 2) mark('treat-as-withdraw', UpdateSubcode.InvalidOriginAttribute, `origin ${buf[v]}`, whole, o);
        else a.origin = buf[v];
        break;
      case AttrType.AsPath: {
        const path = decodeAsPath(buf, v, next, ctx.fourByteAs ? 4 : 2);
        if (path === undefined) mark('treat-as-withdraw', UpdateSubcode.MalformedAsPath, 'malformed AS_PATH', Buffer.alloc(0), o);
        else a.asPath = path;
        break;
      }
      case AttrType.NextHop:
        if (len !== 4) lengthError('treat-as-withdraw');
        else a.nextHop = formatIPv4(buf.readUInt32BE(v));
        break;
      case AttrType.MultiExitDisc:
        if (len !== 4) lengthError('treat-as-withdraw');
        else a.med = buf.readUInt32BE(v);
        break;
      case AttrType.LocalPref:
        if (len !== 4) lengthError('treat-as-withdraw');
        else a.localPref = buf.readUInt32BE(v);
        break;
      case AttrType.AtomicAggregate:
        if (len !== 0) lengthError('attribute-discard');
        else a.atomicAggregate = true;
        break;
      case AttrType.Aggregator: {
        const asSize = ctx.fourByteAs ? 4 : 2;
        if (len !== asSize + 4) lengthError('attribute-discard');
        else a.aggregator = { asn: asSize === 4 ? buf.readUInt32BE(v) : buf.readUInt16BE(v), address: formatIPv4(buf.readUInt32BE(v + asSize)) };
        break;
      }
      case AttrType.Communities:
        if (len === 0 || len % 4 !== 0) lengthError('treat-as-withdraw');
        else {
          const cs: number[] = [];
          for (let i = v; i < next; i += 4) cs.push(buf.readUInt32BE(i));
          a.communities = cs;
        }
        break;
      case AttrType.LargeCommunity:
        if (len === 0 || len % 12 !== 0) lengthError('treat-as-withdraw');
        else {
          const ls: LargeCommunity[] = [];
          for (let i = v; i < next; i += 12) ls.push({ globalAdmin: buf.readUInt32BE(i), localData1: buf.readUInt32BE(i + 4), localData2: buf.readUInt32BE(i + 8) });
          a.largeCommunities = ls;
        }
        break;
      case AttrType.As4Path: {
        // RFC 6793 as updated by RFC 7606 §7.1: a malformed AS4_PATH is discarded.
        const path = decodeAsPath(buf, v, next, 4);
        if (path === undefined) mark('attribute-discard', UpdateSubcode.MalformedAsPath, 'malformed AS4_PATH', whole, o);
        else a.as4Path = path;
        break;
      }
      case AttrType.As4Aggregator:
        if (len !== 8) lengthError('attribute-discard');
        else a.as4Aggregator = { asn: buf.readUInt32BE(v), address: formatIPv4(buf.readUInt32BE(v + 4)) };
        break;
      case AttrType.MpReachNlri: {
        // RFC 7606 §7.11: a malformed MP_REACH_NLRI resets the session (its NLRI cannot be trusted).
        const bad = (why: string): BgpError => new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.OptionalAttributeError, `MP_REACH_NLRI: ${why}`, whole, o);
        if (len < 5) throw bad(`length ${len}`);
        const afi = buf.readUInt16BE(v);
        const safi = buf[v + 2];
        const nhLen = buf[v + 3];
        if (v + 5 + nhLen > next) throw bad(`next hop length ${nhLen} overruns the attribute`);
        if ((afi !== Afi.IPv4 && afi !== Afi.IPv6) || safi !== Safi.Unicast) {
          (a.other ??= []).push({ flags: flags & ~AttrFlag.ExtendedLength, typeCode: type, value: attrData(buf, v, next) });
          break;
        }
        const nh = decodeNextHopField(buf, v + 4, nhLen, afi);
        if (nh === undefined) throw bad(`next hop length ${nhLen} for AFI ${afi}`);
        const nlri = decodePrefixes(buf, v + 5 + nhLen, next, familyOf(afi), UpdateSubcode.OptionalAttributeError);
        a.mpReach = { afi, safi, ...nh, nlri };
        break;
      }
      case AttrType.MpUnreachNlri: {
        if (len < 3) throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.OptionalAttributeError, `MP_UNREACH_NLRI length ${len}`, whole, o);
        const afi = buf.readUInt16BE(v);
        const safi = buf[v + 2];
        if ((afi !== Afi.IPv4 && afi !== Afi.IPv6) || safi !== Safi.Unicast) {
          (a.other ??= []).push({ flags: flags & ~AttrFlag.ExtendedLength, typeCode: type, value: attrData(buf, v, next) });
          break;
        }
        a.mpUnreach = { afi, safi, withdrawn: decodePrefixes(buf, v + 3, next, familyOf(afi), UpdateSubcode.OptionalAttributeError) };
        break;
      }
    }
    o = next;
  }
  return { attributes: a, malformed };
}
