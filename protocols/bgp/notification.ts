// NOTIFICATION message (RFC 4271 §4.5) and the shutdown communication of RFC 8203 / RFC 9003.
import { BgpError, CeaseSubcode, ErrorCode, HeaderSubcode } from './errors.js';
import { decodeHeader, encodeHeader, HEADER_LENGTH, MessageType } from './header.js';

export interface NotificationMessage {
  type: 'notification';
  code: number;
  subcode: number;
  data: Buffer;
}

export function notificationEncodingLength(m: NotificationMessage): number {
  return HEADER_LENGTH + 2 + m.data.length;
}

export function encodeNotification(m: NotificationMessage, buf: Buffer, offset: number): number {
  const length = notificationEncodingLength(m);
  encodeHeader(length, MessageType.Notification, buf, offset);
  buf[offset + HEADER_LENGTH] = m.code;
  buf[offset + HEADER_LENGTH + 1] = m.subcode;
  m.data.copy(buf, offset + HEADER_LENGTH + 2);
  return length;
}

export function decodeNotification(buf: Buffer, offset: number): NotificationMessage {
  const { length, type } = decodeHeader(buf, offset);
  if (type !== MessageType.Notification) throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageType, `expected NOTIFICATION, got type ${type}`, Buffer.from([type]), offset + 18);
  const b = offset + HEADER_LENGTH;
  return { type: 'notification', code: buf[b], subcode: buf[b + 1], data: Buffer.from(buf.subarray(b + 2, offset + length)) };
}

/** The NOTIFICATION for a BgpError. */
export function notificationFor(err: BgpError): NotificationMessage {
  return { type: 'notification', code: err.code, subcode: err.subcode, data: err.data };
}

/** RFC 9003 allows 255 octets of UTF-8 (RFC 8203 allowed 128; receivers accept either). */
const MAX_SHUTDOWN_MESSAGE = 255;

/** Data for Cease/Administrative Shutdown or Reset: a length octet and UTF-8 text, cut on a character boundary. */
export function shutdownCommunication(reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_SHUTDOWN_MESSAGE) {
    let cut = MAX_SHUTDOWN_MESSAGE;
    // Back up over UTF-8 continuation bytes so we never split a character.
    while (cut > 0 && (text[cut] & 0xc0) === 0x80) cut--;
    text = text.subarray(0, cut);
  }
  return Buffer.concat([Buffer.from([text.length]), text]);
}

/** A Cease/Administrative Shutdown NOTIFICATION carrying a reason. */
export function administrativeShutdown(reason: string): NotificationMessage {
  return { type: 'notification', code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown, data: shutdownCommunication(reason) };
}

/** The shutdown communication in a Cease 2 or 4 NOTIFICATION, if well formed. */
export function shutdownReason(m: NotificationMessage): string | undefined {
  if (m.code !== ErrorCode.Cease) return undefined;
  if (m.subcode !== CeaseSubcode.AdministrativeShutdown && m.subcode !== CeaseSubcode.AdministrativeReset) return undefined;
  if (m.data.length < 1 || m.data[0] + 1 > m.data.length) return undefined;
  return m.data.subarray(1, 1 + m.data[0]).toString('utf8');
}
