// ROUTE-REFRESH message (RFC 2918; subtype octet from RFC 7313).
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';
import { decodeHeader, encodeHeader, HEADER_LENGTH, MessageType } from './header.js';

export interface RouteRefreshMessage {
  type: 'route-refresh';
  afi: number;
  /** 0 = normal request; 1/2 = begin/end of route refresh (RFC 7313). */
  subtype: number;
  safi: number;
}

export function routeRefreshEncodingLength(): number {
  return HEADER_LENGTH + 4;
}

export function encodeRouteRefresh(m: RouteRefreshMessage, buf: Buffer, offset: number): number {
  encodeHeader(HEADER_LENGTH + 4, MessageType.RouteRefresh, buf, offset);
  buf.writeUInt16BE(m.afi, offset + HEADER_LENGTH);
  buf[offset + HEADER_LENGTH + 2] = m.subtype;
  buf[offset + HEADER_LENGTH + 3] = m.safi;
  return HEADER_LENGTH + 4;
}

export function decodeRouteRefresh(buf: Buffer, offset: number): RouteRefreshMessage {
  const { type } = decodeHeader(buf, offset);
  if (type !== MessageType.RouteRefresh) throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `expected ROUTE-REFRESH, got type ${type}`, Buffer.from([type]), offset + 18);
  const b = offset + HEADER_LENGTH;
  return { type: 'route-refresh', afi: buf.readUInt16BE(b), subtype: buf[b + 2], safi: buf[b + 3] };
}
