// KEEPALIVE message (RFC 4271 §4.4): a bare header.
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';
import { decodeHeader, encodeHeader, HEADER_LENGTH, MessageType } from './header.js';

export interface KeepaliveMessage {
  type: 'keepalive';
}

export function keepaliveEncodingLength(): number {
  return HEADER_LENGTH;
}

export function encodeKeepalive(_m: KeepaliveMessage, buf: Buffer, offset: number): number {
  return encodeHeader(HEADER_LENGTH, MessageType.Keepalive, buf, offset);
}

export function decodeKeepalive(buf: Buffer, offset: number): KeepaliveMessage {
  const { type } = decodeHeader(buf, offset);
  if (type !== MessageType.Keepalive) throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `expected KEEPALIVE, got type ${type}`, Buffer.from([type]), offset + 18);
  return { type: 'keepalive' };
}
