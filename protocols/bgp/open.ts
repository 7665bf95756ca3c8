// OPEN message (RFC 4271 §4.2) with capabilities carried in optional parameters (RFC 5492).
import { capabilityEncodingLength, decodeCapabilities, encodeCapability, type Capability } from './capabilities.js';
import { BgpError, ErrorCode, HeaderSubcode, OpenSubcode } from './errors.js';
import { decodeHeader, encodeHeader, HEADER_LENGTH, MessageType } from './header.js';

/** RFC 6793: the 2-octet My AS stand-in when the real AS does not fit. */
export const AS_TRANS = 23456;
const CAPABILITIES_PARAMETER = 2;

export interface OpenMessage {
  type: 'open';
  version: number;
  /** The 2-octet My Autonomous System field (AS_TRANS when the real AS is 4-octet). */
  myAs: number;
  holdTime: number;
  /** BGP Identifier as an unsigned 32-bit number. */
  bgpIdentifier: number;
  capabilities: Capability[];
}

/** The capabilities split into optional parameters of at most 255 octets each. */
function parameterGroups(caps: readonly Capability[]): Capability[][] {
  const groups: Capability[][] = [];
  let current: Capability[] = [];
  let size = 0;
  for (const c of caps) {
    const n = capabilityEncodingLength(c);
    if (size + n > 255 && current.length > 0) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(c);
    size += n;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export function openEncodingLength(m: OpenMessage): number {
  let n = HEADER_LENGTH + 10;
  for (const g of parameterGroups(m.capabilities)) {
    n += 2;
    for (const c of g) n += capabilityEncodingLength(c);
  }
  return n;
}

export function encodeOpen(m: OpenMessage, buf: Buffer, offset: number): number {
  const length = openEncodingLength(m);
  // Optional Parameters Length is one octet (RFC 9072 extended parameters are not implemented).
  if (length - HEADER_LENGTH - 10 > 255) throw new RangeError(`OPEN capabilities take ${length - HEADER_LENGTH - 10} octets; at most 255 fit`);
  encodeHeader(length, MessageType.Open, buf, offset);
  let o = offset + HEADER_LENGTH;
  buf[o] = m.version;
  buf.writeUInt16BE(m.myAs, o + 1);
  buf.writeUInt16BE(m.holdTime, o + 3);
  buf.writeUInt32BE(m.bgpIdentifier >>> 0, o + 5);
  buf[o + 9] = length - HEADER_LENGTH - 10;
  o += 10;
  for (const g of parameterGroups(m.capabilities)) {
    const start = o;
    buf[o] = CAPABILITIES_PARAMETER;
    o += 2;
    for (const c of g) o += encodeCapability(c, buf, o);
    buf[start + 1] = o - start - 2;
  }
  return length;
}

/** Decode a whole OPEN message (header included). Several capability parameters are accepted. */
export function decodeOpen(buf: Buffer, offset: number): OpenMessage {
  const { length, type } = decodeHeader(buf, offset);
  if (type !== MessageType.Open) throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `expected OPEN, got type ${type}`, Buffer.from([type]), offset + 18);
  const b = offset + HEADER_LENGTH;
  const version = buf[b];
  if (version !== 4) {
    // Data: the largest version we support (RFC 4271 §6.2).
    throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.UnsupportedVersionNumber, `version ${version}, only 4 is supported`, Buffer.from([0, 4]), b);
  }
  const optLength = buf[b + 9];
  const end = offset + length;
  if (b + 10 + optLength !== end) {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(length);
    throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, `optional parameters length ${optLength} disagrees with message length ${length}`, data, b + 9);
  }
  const capabilities: Capability[] = [];
  let o = b + 10;
  while (o < end) {
    if (o + 2 > end) throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific, 'truncated optional parameter', Buffer.alloc(0), o);
    const ptype = buf[o];
    const plen = buf[o + 1];
    if (o + 2 + plen > end) throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific, `optional parameter length ${plen} runs past the message`, Buffer.alloc(0), o);
    if (ptype !== CAPABILITIES_PARAMETER) {
      throw new BgpError(ErrorCode.OpenMessage, OpenSubcode.UnsupportedOptionalParameter, `optional parameter type ${ptype}`, Buffer.alloc(0), o);
    }
    capabilities.push(...decodeCapabilities(buf, o + 2, o + 2 + plen));
    o += 2 + plen;
  }
  return {
    type: 'open',
    version,
    myAs: buf.readUInt16BE(b + 1),
    holdTime: buf.readUInt16BE(b + 3),
    bgpIdentifier: buf.readUInt32BE(b + 5),
    capabilities,
  };
}
