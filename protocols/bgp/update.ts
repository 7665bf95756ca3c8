// UPDATE message (RFC 4271 §4.3) as a value: the general codec, used for decoding what the
// router sends and in tests. The allocation-free packed encoder is in update-encoder.ts.
import {
  attributesEncodingLength,
  AttrType,
  decodeAttributes,
  defaultCodecContext,
  encodeAttributes,
  type CodecContext,
  type MalformedAttribute,
  type PathAttributes,
} from './attributes.js';
import { Afi, Safi } from './capabilities.js';
import { BgpError, ErrorCode, HeaderSubcode, UpdateSubcode } from './errors.js';
import { decodeHeader, encodeHeader, HEADER_LENGTH, MessageType } from './header.js';
import { decodePrefixes, encodePrefixes, prefixesEncodingLength } from './nlri.js';
import type { AddressFamily, Prefix } from './prefix.js';

export interface UpdateMessage {
  type: 'update';
  withdrawn: Prefix[];
  attributes: PathAttributes;
  nlri: Prefix[];
  /** Set by decode only when RFC 7606 error handling applied (treat-as-withdraw or attribute discard). */
  malformed?: MalformedAttribute[];
}

export function updateEncodingLength(m: UpdateMessage, ctx: CodecContext = defaultCodecContext): number {
  return HEADER_LENGTH + 4 + prefixesEncodingLength(m.withdrawn) + attributesEncodingLength(m.attributes, ctx) + prefixesEncodingLength(m.nlri);
}

export function encodeUpdate(m: UpdateMessage, buf: Buffer, offset: number, ctx: CodecContext = defaultCodecContext): number {
  const length = updateEncodingLength(m, ctx);
  if (length > ctx.maxMessageLength) throw new RangeError(`UPDATE of ${length} bytes exceeds the ${ctx.maxMessageLength}-byte message limit`);
  encodeHeader(length, MessageType.Update, buf, offset);
  let o = offset + HEADER_LENGTH;
  const wl = encodePrefixes(m.withdrawn, buf, o + 2);
  buf.writeUInt16BE(wl, o);
  o += 2 + wl;
  const al = encodeAttributes(m.attributes, buf, o + 2, ctx);
  buf.writeUInt16BE(al, o);
  o += 2 + al;
  o += encodePrefixes(m.nlri, buf, o);
  return o - offset;
}

/**
 * Decode a whole UPDATE (header included), validating per RFC 4271 §6.3 and RFC 7606:
 * session-reset errors throw BgpError; softer ones are listed in `malformed`.
 */
export function decodeUpdate(buf: Buffer, offset: number, ctx: CodecContext = defaultCodecContext): UpdateMessage {
  const { length, type } = decodeHeader(buf, offset, ctx.maxMessageLength);
  if (type !== MessageType.Update) throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `expected UPDATE, got type ${type}`, Buffer.from([type]), offset + 18);
  const end = offset + length;
  let o = offset + HEADER_LENGTH;
  const withdrawnLength = buf.readUInt16BE(o);
  if (o + 2 + withdrawnLength + 2 > end) {
    throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList, `withdrawn routes length ${withdrawnLength} too large for message length ${length}`, Buffer.alloc(0), o);
  }
  const withdrawn = decodePrefixes(buf, o + 2, o + 2 + withdrawnLength, 'ipv4', UpdateSubcode.InvalidNetworkField);
  o += 2 + withdrawnLength;
  const attributesLength = buf.readUInt16BE(o);
  if (o + 2 + attributesLength > end) {
    throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList, `total path attribute length ${attributesLength} too large for message length ${length}`, Buffer.alloc(0), o);
  }
  const { attributes, malformed } = decodeAttributes(buf, o + 2, o + 2 + attributesLength, ctx);
  o += 2 + attributesLength;
  const nlri = decodePrefixes(buf, o, end, 'ipv4', UpdateSubcode.InvalidNetworkField);
  const hasRoutes = nlri.length > 0 || (attributes.mpReach !== undefined && attributes.mpReach.nlri.length > 0);
  if (hasRoutes && !malformed.some((m) => m.action === 'treat-as-withdraw')) {
    // RFC 7606 §3d: a missing well-known mandatory attribute makes the UPDATE treat-as-withdraw.
    const required: number[] = [AttrType.Origin, AttrType.AsPath];
    if (nlri.length > 0) required.push(AttrType.NextHop);
    const present: Record<number, boolean> = {
      [AttrType.Origin]: attributes.origin !== undefined,
      [AttrType.AsPath]: attributes.asPath !== undefined,
      [AttrType.NextHop]: attributes.nextHop !== undefined,
    };
    for (const t of required) {
      if (!present[t]) {
        malformed.push({
          action: 'treat-as-withdraw',
          error: new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.MissingWellKnownAttribute, `missing well-known attribute type ${t}`, Buffer.from([t])),
          attrType: t,
        });
      }
    }
  }
  const m: UpdateMessage = { type: 'update', withdrawn, attributes, nlri };
  if (malformed.length > 0) m.malformed = malformed;
  return m;
}

/** True when RFC 7606 says the routes in this UPDATE must be handled as withdrawn. */
export function isTreatAsWithdraw(m: UpdateMessage): boolean {
  return m.malformed?.some((x) => x.action === 'treat-as-withdraw') ?? false;
}

/** The End-of-RIB marker (RFC 4724 §2) for a family: empty UPDATE for IPv4, empty MP_UNREACH for IPv6. */
export function endOfRib(family: AddressFamily): UpdateMessage {
  if (family === 'ipv4') return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi: Afi.IPv6, safi: Safi.Unicast, withdrawn: [] } }, nlri: [] };
}

/** The family an UPDATE marks End-of-RIB for, or undefined when it is not an End-of-RIB. */
export function endOfRibFamily(m: UpdateMessage): AddressFamily | undefined {
  if (m.withdrawn.length > 0 || m.nlri.length > 0) return undefined;
  const keys = Object.keys(m.attributes);
  if (keys.length === 0) return 'ipv4';
  const u = m.attributes.mpUnreach;
  if (keys.length === 1 && u && u.withdrawn.length === 0 && u.safi === Safi.Unicast) return u.afi === Afi.IPv6 ? 'ipv6' : u.afi === Afi.IPv4 ? 'ipv4' : undefined;
  return undefined;
}
