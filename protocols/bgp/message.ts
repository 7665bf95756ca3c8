// Any BGP message: type dispatch for encoding and decoding, and a stream reader that frames
// messages out of TCP chunks.
import { defaultCodecContext, type CodecContext } from './attributes.js';
import { checkHeader, decodeHeader, HEADER_LENGTH, MessageType } from './header.js';
import { decodeKeepalive, encodeKeepalive, keepaliveEncodingLength, type KeepaliveMessage } from './keepalive.js';
import { decodeNotification, encodeNotification, notificationEncodingLength, type NotificationMessage } from './notification.js';
import { decodeOpen, encodeOpen, openEncodingLength, type OpenMessage } from './open.js';
import { decodeRouteRefresh, encodeRouteRefresh, routeRefreshEncodingLength, type RouteRefreshMessage } from './route-refresh.js';
import { decodeUpdate, encodeUpdate, updateEncodingLength, type UpdateMessage } from './update.js';

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

export function encodingLength(m: BgpMessage, ctx: CodecContext = defaultCodecContext): number {
  switch (m.type) {
    case 'open':
      return openEncodingLength(m);
    case 'update':
      return updateEncodingLength(m, ctx);
    case 'notification':
      return notificationEncodingLength(m);
    case 'keepalive':
      return keepaliveEncodingLength();
    case 'route-refresh':
      return routeRefreshEncodingLength();
  }
}

export function encode(m: BgpMessage, buf: Buffer, offset: number, ctx: CodecContext = defaultCodecContext): number {
  switch (m.type) {
    case 'open':
      return encodeOpen(m, buf, offset);
    case 'update':
      return encodeUpdate(m, buf, offset, ctx);
    case 'notification':
      return encodeNotification(m, buf, offset);
    case 'keepalive':
      return encodeKeepalive(m, buf, offset);
    case 'route-refresh':
      return encodeRouteRefresh(m, buf, offset);
  }
}

/** Encode into a fresh Buffer of exactly the right size. */
export function toBuffer(m: BgpMessage, ctx: CodecContext = defaultCodecContext): Buffer {
  const buf = Buffer.allocUnsafe(encodingLength(m, ctx));
  encode(m, buf, 0, ctx);
  return buf;
}

/** Decode one whole message at offset; throws BgpError (only) on anything invalid. */
export function decode(buf: Buffer, offset: number, ctx: CodecContext = defaultCodecContext): BgpMessage {
  const { type } = decodeHeader(buf, offset, ctx.maxMessageLength);
  switch (type) {
    case MessageType.Open:
      return decodeOpen(buf, offset);
    case MessageType.Update:
      return decodeUpdate(buf, offset, ctx);
    case MessageType.Notification:
      return decodeNotification(buf, offset);
    case MessageType.Keepalive:
      return decodeKeepalive(buf, offset);
    default:
      return decodeRouteRefresh(buf, offset);
  }
}

/**
 * Frames messages out of a byte stream: push() TCP chunks, next() returns whole messages
 * (as Buffers viewing the stream) until more bytes are needed. Header errors throw BgpError.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  maxMessageLength: number;

  constructor(maxMessageLength = 4096) {
    this.maxMessageLength = maxMessageLength;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete message's bytes, or undefined when it has not fully arrived yet. */
  next(): Buffer | undefined {
    if (this.buffered < HEADER_LENGTH) return undefined;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const head = this.chunks[0];
    // Validate marker/length/type as soon as the header is in (a bad length could otherwise stall us).
    const { length } = checkHeader(head, 0, this.maxMessageLength);
    if (this.buffered < length) return undefined;
    const message = head.subarray(0, length);
    const rest = head.subarray(length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= length;
    return message;
  }
}
