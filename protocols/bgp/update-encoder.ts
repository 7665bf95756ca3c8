// The hot path: packs announcements and withdrawals into as few UPDATEs as possible, straight
// into a caller-owned Buffer, without allocating. Shared attributes are encoded once per
// advertisement class (compileAttributes); per prefix only the NLRI octets are written.
import { AttrFlag, AttrType, encodeAttributes, attributesEncodingLength, mpReachHeaderBytes, type CodecContext, type PathAttributes } from './attributes.js';
import { Afi, Safi } from './capabilities.js';
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH, MessageType } from './header.js';
import type { AddressFamily, Prefix } from './prefix.js';

/** One advertisement class, encoded once: everything of an UPDATE except the prefixes. */
export interface CompiledAttributes {
  readonly family: AddressFamily;
  /**
   * Marker, header (length left 0), withdrawn length 0, total attribute length (of the fixed
   * attributes), the attributes, and when the prefixes ride in MP_REACH_NLRI (IPv6, or IPv4 with
   * an IPv6 next hop, RFC 8950) its head (extended length, value length left 0) with
   * AFI/SAFI/next hop/reserved. Copied to the start of each message.
   */
  readonly template: Buffer;
  /** Offset in template of the MP_REACH_NLRI value length (prefixes in MP_REACH_NLRI), else -1. */
  readonly mpLengthAt: number;
}

/**
 * Compile the attributes of one advertisement class. IPv4 attributes carry NEXT_HOP, or
 * `mpReach` with an IPv6 next hop (RFC 8950: AFI 1 in MP_REACH_NLRI, 16- or 32-octet next hop);
 * IPv6 ones carry `mpReach`. mpReach's nlri is ignored; it goes last so prefixes are appended linearly.
 */
export function compileAttributes(attrs: PathAttributes, family: AddressFamily, ctx: CodecContext): CompiledAttributes {
  if (family === 'ipv4' && attrs.mpReach === undefined) {
    if (attrs.nextHop === undefined) throw new RangeError('IPv4 attributes need a nextHop (or mpReach with an IPv6 next hop)');
    const { mpReach: _r, mpUnreach: _u, ...rest } = attrs;
    const attrLen = attributesEncodingLength(rest, ctx);
    const template = Buffer.alloc(HEADER_LENGTH + 4 + attrLen);
    template.fill(0xff, 0, 16);
    template[18] = MessageType.Update;
    template.writeUInt16BE(attrLen, HEADER_LENGTH + 2);
    encodeAttributes(rest, template, HEADER_LENGTH + 4, ctx);
    return { family, template, mpLengthAt: -1 };
  }
  if (attrs.mpReach === undefined) throw new RangeError('IPv6 attributes need mpReach (the next hops)');
  const { mpReach, mpUnreach: _u, nextHop: _n, ...rest } = attrs;
  if (family === 'ipv4' && !mpReach.nextHop.includes(':')) throw new RangeError('IPv4 attributes with mpReach need an IPv6 next hop (RFC 8950); an IPv4 one goes in nextHop');
  const afi = family === 'ipv6' ? Afi.IPv6 : Afi.IPv4;
  const mpHead = mpReachHeaderBytes({ afi, safi: Safi.Unicast, nextHop: mpReach.nextHop, nextHopLinkLocal: mpReach.nextHopLinkLocal });
  const fixedLen = attributesEncodingLength(rest, ctx);
  const template = Buffer.alloc(HEADER_LENGTH + 4 + fixedLen + 4 + mpHead.length);
  template.fill(0xff, 0, 16);
  template[18] = MessageType.Update;
  let o = HEADER_LENGTH + 4;
  o += encodeAttributes(rest, template, o, ctx);
  template[o] = AttrFlag.Optional | AttrFlag.ExtendedLength;
  template[o + 1] = AttrType.MpReachNlri;
  const mpLengthAt = o + 2;
  mpHead.copy(template, o + 4);
  return { family, template, mpLengthAt };
}

/** After the prefixes of one message are written: the MP_REACH value length and the total attribute length, which includes it. */
function fixMpLengths(buf: Buffer, msgStart: number, mpLengthAt: number, w: number): void {
  const mpLen = w - (msgStart + mpLengthAt + 2);
  buf[msgStart + mpLengthAt] = mpLen >>> 8;
  buf[msgStart + mpLengthAt + 1] = mpLen & 0xff;
  const attrLen = w - msgStart - HEADER_LENGTH - 4;
  buf[msgStart + HEADER_LENGTH + 2] = attrLen >>> 8;
  buf[msgStart + HEADER_LENGTH + 3] = attrLen & 0xff;
}

const IPV4_WITHDRAW_OVERHEAD = HEADER_LENGTH + 4;
// header, withdrawn length, attribute length, MP_UNREACH flags/type/2-octet length, AFI, SAFI
const MP_WITHDRAW_OVERHEAD = HEADER_LENGTH + 4 + 4 + 3;

/**
 * Writes packed UPDATEs. Each call writes whole messages into buf from offset until the prefixes
 * in [start, end) are exhausted or the next message would not fit in buf; it returns the bytes
 * written and leaves the index of the first unwritten prefix in `next` and the message count in
 * `messages` (fields, not a returned object, so the hot path allocates nothing).
 */
export class UpdateEncoder {
  /** 4096, or 65535 once RFC 8654 extended messages are negotiated. */
  maxMessageLength: number;
  /** After a call: index of the first prefix not written. */
  next = 0;
  /** After a call: number of UPDATE messages written. */
  messages = 0;

  constructor(maxMessageLength: number = MAX_MESSAGE_LENGTH) {
    this.maxMessageLength = maxMessageLength;
  }

  /** Announce prefixes[start, end) (all of attrs.family) with the compiled attributes. */
  encodeAnnounce(attrs: CompiledAttributes, prefixes: readonly Prefix[], start: number, end: number, buf: Buffer, offset: number): number {
    const t = attrs.template;
    const tlen = t.length;
    const v6 = attrs.family === 'ipv6';
    const mpLengthAt = attrs.mpLengthAt;
    const mp = mpLengthAt >= 0;
    let i = start;
    let o = offset;
    let messages = 0;
    const bufEnd = buf.length;
    while (i < end) {
      const msgStart = o;
      const limit = Math.min(msgStart + this.maxMessageLength, bufEnd);
      const first = prefixes[i];
      if (msgStart + tlen + 1 + ((first.length + 7) >> 3) > limit) break;
      buf.set(t, msgStart);
      let w = msgStart + tlen;
      if (v6) w = writeV6(prefixes, i, end, buf, w, limit, this);
      else w = writeV4(prefixes, i, end, buf, w, limit, this);
      i = this.next;
      const length = w - msgStart;
      buf[msgStart + 16] = length >>> 8;
      buf[msgStart + 17] = length & 0xff;
      if (mp) fixMpLengths(buf, msgStart, mpLengthAt, w);
      o = w;
      messages++;
    }
    this.next = i;
    this.messages = messages;
    return o - offset;
  }

  /**
   * Announce IPv4 prefixes held compactly: addresses[start, end) with lengths[i] (or all /32 when
   * lengths is undefined). Same output as encodeAnnounce; reading sequential typed arrays instead
   * of Prefix objects is what makes this the fastest path for large host-route sets.
   */
  encodeAnnounceV4(attrs: CompiledAttributes, addresses: Uint32Array, lengths: Uint8Array | undefined, start: number, end: number, buf: Buffer, offset: number): number {
    if (attrs.family !== 'ipv4') throw new RangeError('encodeAnnounceV4 needs IPv4 attributes');
    const t = attrs.template;
    const tlen = t.length;
    const mpLengthAt = attrs.mpLengthAt;
    let i = start;
    let o = offset;
    let messages = 0;
    const bufEnd = buf.length;
    while (i < end) {
      const msgStart = o;
      const limit = Math.min(msgStart + this.maxMessageLength, bufEnd);
      const firstLen = lengths === undefined ? 32 : lengths[i];
      if (msgStart + tlen + 1 + ((firstLen + 7) >> 3) > limit) break;
      buf.set(t, msgStart);
      const w = writeV4Typed(addresses, lengths, i, end, buf, msgStart + tlen, limit, this);
      i = this.next;
      const length = w - msgStart;
      buf[msgStart + 16] = length >>> 8;
      buf[msgStart + 17] = length & 0xff;
      if (mpLengthAt >= 0) fixMpLengths(buf, msgStart, mpLengthAt, w);
      o = w;
      messages++;
    }
    this.next = i;
    this.messages = messages;
    return o - offset;
  }

  /**
   * Withdraw prefixes[start, end) of one family: IPv6 in MP_UNREACH_NLRI; IPv4 in the Withdrawn
   * Routes field, or with `mp` in MP_UNREACH_NLRI AFI 1 (as announced over RFC 8950).
   */
  encodeWithdraw(family: AddressFamily, prefixes: readonly Prefix[], start: number, end: number, buf: Buffer, offset: number, mp: boolean = family === 'ipv6'): number {
    const v6 = family === 'ipv6';
    const overhead = mp ? MP_WITHDRAW_OVERHEAD : IPV4_WITHDRAW_OVERHEAD;
    let i = start;
    let o = offset;
    let messages = 0;
    const bufEnd = buf.length;
    while (i < end) {
      const msgStart = o;
      const limit = Math.min(msgStart + this.maxMessageLength, bufEnd);
      if (msgStart + overhead + 1 + ((prefixes[i].length + 7) >> 3) > limit) break;
      buf.fill(0xff, msgStart, msgStart + 16);
      buf[msgStart + 18] = MessageType.Update;
      let w: number;
      if (mp) {
        const a = msgStart + HEADER_LENGTH;
        buf[a] = 0;
        buf[a + 1] = 0; // no IPv4 withdrawn routes
        buf[a + 4] = AttrFlag.Optional | AttrFlag.ExtendedLength;
        buf[a + 5] = AttrType.MpUnreachNlri;
        buf[a + 8] = 0;
        buf[a + 9] = v6 ? Afi.IPv6 : Afi.IPv4;
        buf[a + 10] = Safi.Unicast;
        w = v6 ? writeV6(prefixes, i, end, buf, msgStart + overhead, limit, this) : writeV4(prefixes, i, end, buf, msgStart + overhead, limit, this);
        const mpLen = w - (a + 8);
        buf[a + 6] = mpLen >>> 8;
        buf[a + 7] = mpLen & 0xff;
        const attrLen = mpLen + 4;
        buf[a + 2] = attrLen >>> 8;
        buf[a + 3] = attrLen & 0xff;
      } else {
        // Withdrawn routes come before the (empty) attributes; leave room for the attribute length.
        w = writeV4(prefixes, i, end, buf, msgStart + HEADER_LENGTH + 2, limit - 2, this);
        const wl = w - (msgStart + HEADER_LENGTH + 2);
        buf[msgStart + HEADER_LENGTH] = wl >>> 8;
        buf[msgStart + HEADER_LENGTH + 1] = wl & 0xff;
        buf[w] = 0;
        buf[w + 1] = 0;
        w += 2;
      }
      i = this.next;
      const length = w - msgStart;
      buf[msgStart + 16] = length >>> 8;
      buf[msgStart + 17] = length & 0xff;
      o = w;
      messages++;
    }
    this.next = i;
    this.messages = messages;
    return o - offset;
  }
}

/** Write IPv4 prefixes from i while they fit before limit; sets enc.next; returns the new write offset. */
function writeV4(prefixes: readonly Prefix[], i: number, end: number, buf: Buffer, w: number, limit: number, enc: UpdateEncoder): number {
  while (i < end) {
    const p = prefixes[i];
    const len = p.length;
    const a = p.v4;
    if (len === 32) {
      // The common case (a /32 VIP): five octets, no branches.
      if (w + 5 > limit) break;
      buf[w] = 32;
      buf[w + 1] = a >>> 24;
      buf[w + 2] = (a >>> 16) & 0xff;
      buf[w + 3] = (a >>> 8) & 0xff;
      buf[w + 4] = a & 0xff;
      w += 5;
    } else {
      const octets = (len + 7) >> 3;
      if (w + 1 + octets > limit) break;
      buf[w] = len;
      for (let k = 0; k < octets; k++) buf[w + 1 + k] = (a >>> (24 - 8 * k)) & 0xff;
      w += 1 + octets;
    }
    i++;
  }
  enc.next = i;
  return w;
}

function writeV6(prefixes: readonly Prefix[], i: number, end: number, buf: Buffer, w: number, limit: number, enc: UpdateEncoder): number {
  while (i < end) {
    const p = prefixes[i];
    const octets = (p.length + 7) >> 3;
    if (w + 1 + octets > limit) break;
    buf[w] = p.length;
    const b = p.v6;
    for (let k = 0; k < octets; k++) buf[w + 1 + k] = b[k];
    w += 1 + octets;
    i++;
  }
  enc.next = i;
  return w;
}

function writeV4Typed(addresses: Uint32Array, lengths: Uint8Array | undefined, i: number, end: number, buf: Buffer, w: number, limit: number, enc: UpdateEncoder): number {
  if (lengths === undefined) {
    // All /32: the number that fit is known up front, so the loop has no bounds test.
    const n = Math.min(end - i, Math.floor((limit - w) / 5));
    const stop = i + n;
    for (; i < stop; i++) {
      const a = addresses[i];
      buf[w] = 32;
      buf[w + 1] = a >>> 24;
      buf[w + 2] = (a >>> 16) & 0xff;
      buf[w + 3] = (a >>> 8) & 0xff;
      buf[w + 4] = a & 0xff;
      w += 5;
    }
  } else {
    while (i < end) {
      const len = lengths[i];
      const octets = (len + 7) >> 3;
      if (w + 1 + octets > limit) break;
      const a = addresses[i];
      buf[w] = len;
      for (let k = 0; k < octets; k++) buf[w + 1 + k] = (a >>> (24 - 8 * k)) & 0xff;
      w += 1 + octets;
      i++;
    }
  }
  enc.next = i;
  return w;
}
