// The 19-octet message header (RFC 4271 §4.1): marker, length, type, validated on decode.
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';

export const MARKER_LENGTH = 16;
export const HEADER_LENGTH = 19;
/** RFC 4271 maximum message size. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654 maximum once extended messages are negotiated. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

export const MessageType = {
  Open: 1,
  Update: 2,
  Notification: 3,
  Keepalive: 4,
  RouteRefresh: 5,
} as const;

/** Smallest valid total length per message type (RFC 4271 §6.1, RFC 2918). */
const MIN_LENGTH: Record<number, number> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

export interface Header {
  length: number;
  type: number;
}

/** Write marker, length and type; returns 19. */
export function encodeHeader(length: number, type: number, buf: Buffer, offset: number): number {
  buf.fill(0xff, offset, offset + MARKER_LENGTH);
  buf.writeUInt16BE(length, offset + 16);
  buf[offset + 18] = type;
  return HEADER_LENGTH;
}

function badLength(length: number, offset: number, why: string): BgpError {
  const data = Buffer.alloc(2);
  data.writeUInt16BE(length & 0xffff);
  return new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, `length ${length} ${why}`, data, offset + 16);
}

/**
 * Validate the 19 header bytes at offset (marker, length bounds per type, known type), without
 * requiring the body to be present. maxLength is 4096, or 65535 after RFC 8654 negotiation.
 */
export function checkHeader(buf: Buffer, offset: number, maxLength: number = MAX_MESSAGE_LENGTH): Header {
  if (buf.length - offset < HEADER_LENGTH) {
    throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, `only ${buf.length - offset} bytes, a header needs 19`, Buffer.alloc(0), offset);
  }
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (buf[offset + i] !== 0xff) {
      throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.ConnectionNotSynchronized, 'marker is not all ones', Buffer.alloc(0), offset + i);
    }
  }
  const length = buf.readUInt16BE(offset + 16);
  const type = buf[offset + 18];
  if (length < HEADER_LENGTH || length > maxLength) throw badLength(length, offset, `outside ${HEADER_LENGTH}..${maxLength}`);
  // RFC 8654 §4: OPEN (and KEEPALIVE, fixed at 19) stay within 4096 even once extended messages are negotiated.
  if (type === MessageType.Open && length > MAX_MESSAGE_LENGTH) throw badLength(length, offset, `is over ${MAX_MESSAGE_LENGTH}: an OPEN is never an extended message (RFC 8654)`);
  const min = MIN_LENGTH[type];
  if (min === undefined) {
    throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `unknown message type ${type}`, Buffer.from([type]), offset + 18);
  }
  if (length < min) throw badLength(length, offset, `too short for message type ${type} (minimum ${min})`);
  if ((type === MessageType.Keepalive || type === MessageType.RouteRefresh) && length !== min) {
    throw badLength(length, offset, `must be exactly ${min} for message type ${type}`);
  }
  return { length, type };
}

/** checkHeader, and also that buf holds the whole message (a truncated message is a Bad Message Length). */
export function decodeHeader(buf: Buffer, offset: number, maxLength: number = MAX_MESSAGE_LENGTH): Header {
  const h = checkHeader(buf, offset, maxLength);
  if (buf.length - offset < h.length) throw badLength(h.length, offset, `but only ${buf.length - offset} bytes present (truncated)`);
  return h;
}
