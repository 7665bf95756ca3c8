// The speaker-to-speaker liveness message (SWIM: ping, ack, ping-req, nack), one per UDP datagram,
// every field big-endian, with an HMAC-SHA256 trailer over the shared secret:
//
//   0   magic 'H' 'L'           2   version (1)        3   type (1 ping, 2 ack, 3 ping-req, 4 nack)
//   4   seq (u32): the probe this message belongs to (ack/nack echo the ping's or ping-req's seq)
//   8   incarnation (u32) of the sender
//  12   from: length (u8, 1..63) + name (UTF-8)
//   .   target: length (u8, 0..63) + name: ping: the addressee; ack: who answered; ping-req/nack: the node to probe
//   .   updates: count (u8, <= MAX_UPDATES), each: state (u8: 0 alive, 1 suspect, 2 dead),
//       incarnation (u32), length (u8, 1..63) + name
//   .   mac: HMAC-SHA256(secret, every byte before it), 32 bytes
//
// Names are node names (DNS labels, at most 63 bytes here: a longer one is refused when encoding).
// decode() checks the structure only; verify() checks the MAC, and the receiver drops a datagram
// that fails either (counted by reason), before anything in it is believed.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type MessageType = 'ping' | 'ack' | 'pingReq' | 'nack';
export type MemberState = 'alive' | 'suspect' | 'dead';

export interface Update {
  name: string;
  state: MemberState;
  incarnation: number;
}

export interface Message {
  type: MessageType;
  seq: number;
  incarnation: number;
  from: string;
  target: string;
  updates: readonly Update[];
}

export const VERSION = 1;
export const MAGIC = 0x484c; // 'HL'
export const MAC_LENGTH = 32;
export const MAX_NAME = 63;
/** Updates piggybacked per message: bounds the datagram (< 1,000 bytes) whatever the cluster size. */
export const MAX_UPDATES = 8;
export const HEADER_LENGTH = 12;
export const MAX_LENGTH = HEADER_LENGTH + 2 * (1 + MAX_NAME) + 1 + MAX_UPDATES * (1 + 4 + 1 + MAX_NAME) + MAC_LENGTH;

const TYPES: readonly MessageType[] = ['ping', 'ack', 'pingReq', 'nack'];
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead'];

export type LivenessErrorCode = 'TooShort' | 'BadMagic' | 'BadVersion' | 'BadType' | 'BadName' | 'BadState' | 'TooManyUpdates' | 'TrailingBytes' | 'BadMac' | 'EncodeRange';

export class LivenessError extends Error {
  readonly code: LivenessErrorCode;
  /** Byte offset of the offending field in the decoded buffer (decoding only). */
  readonly offset: number | undefined;
  readonly field: string;

  constructor(code: LivenessErrorCode, field: string, message: string, offset?: number) {
    super(`liveness message ${field}${offset === undefined ? '' : ` at byte ${offset}`}: ${message}`);
    this.name = 'LivenessError';
    this.code = code;
    this.field = field;
    this.offset = offset;
  }
}

function nameLength(name: string, field: string): number {
  const n = Buffer.byteLength(name, 'utf8');
  if (n > MAX_NAME) throw new LivenessError('EncodeRange', field, `${n} bytes, at most ${MAX_NAME}`);
  return n;
}

function checkU32(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new LivenessError('EncodeRange', field, `${v} is not a u32`);
}

/** Bytes `m` takes on the wire, MAC included. */
export function encodingLength(m: Message): number {
  let n = HEADER_LENGTH + 1 + nameLength(m.from, 'from') + 1 + nameLength(m.target, 'target') + 1;
  for (const u of m.updates) n += 1 + 4 + 1 + nameLength(u.name, 'update name');
  return n + MAC_LENGTH;
}

/**
 * Writes `m` at `offset` with a zero MAC (sign() fills it in); returns the bytes written.
 * The caller sizes `buf` with encodingLength.
 */
export function encode(m: Message, buf: Buffer, offset: number): number {
  const length = encodingLength(m);
  if (m.from === '') throw new LivenessError('EncodeRange', 'from', 'empty name');
  if (m.updates.length > MAX_UPDATES) throw new LivenessError('EncodeRange', 'updates', `${m.updates.length} updates, at most ${MAX_UPDATES}`);
  checkU32(m.seq, 'seq');
  checkU32(m.incarnation, 'incarnation');
  if (buf.length - offset < length) throw new LivenessError('EncodeRange', 'buffer', `needs ${length} bytes from ${offset}, has ${buf.length - offset}`);
  let o = offset;
  o = buf.writeUInt16BE(MAGIC, o);
  o = buf.writeUInt8(VERSION, o);
  o = buf.writeUInt8(TYPES.indexOf(m.type) + 1, o);
  o = buf.writeUInt32BE(m.seq, o);
  o = buf.writeUInt32BE(m.incarnation, o);
  o = writeName(buf, o, m.from);
  o = writeName(buf, o, m.target);
  o = buf.writeUInt8(m.updates.length, o);
  for (const u of m.updates) {
    if (u.name === '') throw new LivenessError('EncodeRange', 'update name', 'empty name');
    checkU32(u.incarnation, 'update incarnation');
    o = buf.writeUInt8(STATES.indexOf(u.state), o);
    o = buf.writeUInt32BE(u.incarnation, o);
    o = writeName(buf, o, u.name);
  }
  buf.fill(0, o, o + MAC_LENGTH);
  return o + MAC_LENGTH - offset;
}

function writeName(buf: Buffer, o: number, name: string): number {
  const n = buf.write(name, o + 1, 'utf8');
  buf.writeUInt8(n, o);
  return o + 1 + n;
}

/**
 * Decodes one whole datagram `buf` from `offset` to its end (the MAC is its last 32 bytes).
 * Checks the structure only: call verify() before believing it.
 */
export function decode(buf: Buffer, offset: number): Message {
  const end = buf.length;
  const need = (o: number, n: number, field: string): void => {
    if (o + n > end - MAC_LENGTH) throw new LivenessError('TooShort', field, `needs ${n} bytes, ${Math.max(0, end - MAC_LENGTH - o)} left before the MAC`, o);
  };
  let o = offset;
  need(o, HEADER_LENGTH, 'header');
  if (buf.readUInt16BE(o) !== MAGIC) throw new LivenessError('BadMagic', 'magic', `0x${buf.readUInt16BE(o).toString(16)}, expected 0x484c`, o);
  if (buf[o + 2] !== VERSION) throw new LivenessError('BadVersion', 'version', `${buf[o + 2]}, expected ${VERSION}`, o + 2);
  const type = TYPES[(buf[o + 3] ?? 0) - 1];
  if (type === undefined) throw new LivenessError('BadType', 'type', `${buf[o + 3]} is not 1-4`, o + 3);
  const seq = buf.readUInt32BE(o + 4);
  const incarnation = buf.readUInt32BE(o + 8);
  o += HEADER_LENGTH;
  const readName = (field: string, min: number): string => {
    need(o, 1, field);
    const n = buf[o] ?? 0;
    if (n < min || n > MAX_NAME) throw new LivenessError('BadName', field, `length ${n}, expected ${min}..${MAX_NAME}`, o);
    need(o + 1, n, field);
    const name = buf.toString('utf8', o + 1, o + 1 + n);
    if (Buffer.byteLength(name, 'utf8') !== n) throw new LivenessError('BadName', field, 'not valid UTF-8', o + 1);
    o += 1 + n;
    return name;
  };
  const from = readName('from', 1);
  const target = readName('target', 0);
  need(o, 1, 'updates');
  const count = buf[o] ?? 0;
  if (count > MAX_UPDATES) throw new LivenessError('TooManyUpdates', 'updates', `${count}, at most ${MAX_UPDATES}`, o);
  o += 1;
  const updates: Update[] = [];
  for (let i = 0; i < count; i++) {
    need(o, 5, `update ${i}`);
    const state = STATES[buf[o] ?? 255];
    if (state === undefined) throw new LivenessError('BadState', `update ${i} state`, `${buf[o]} is not 0-2`, o);
    const inc = buf.readUInt32BE(o + 1);
    o += 5;
    updates.push({ state, incarnation: inc, name: readName(`update ${i} name`, 1) });
  }
  if (o !== end - MAC_LENGTH) throw new LivenessError('TrailingBytes', 'length', `${end - MAC_LENGTH - o} bytes between the last field and the MAC`, o);
  return { type, seq, incarnation, from, target, updates };
}

/** Fills in the MAC of the message in buf[offset, offset + length). */
export function sign(buf: Buffer, offset: number, length: number, secret: Buffer): void {
  const macAt = offset + length - MAC_LENGTH;
  createHmac('sha256', secret).update(buf.subarray(offset, macAt)).digest().copy(buf, macAt);
}

/** Whether the datagram's MAC is right for `secret` (constant time). */
export function verify(buf: Buffer, secret: Buffer): boolean {
  if (buf.length < MAC_LENGTH + HEADER_LENGTH) return false;
  const macAt = buf.length - MAC_LENGTH;
  const expected = createHmac('sha256', secret).update(buf.subarray(0, macAt)).digest();
  return timingSafeEqual(expected, buf.subarray(macAt));
}

/** A whole signed datagram for `m`. */
export function seal(m: Message, secret: Buffer): Buffer {
  const buf = Buffer.alloc(encodingLength(m));
  encode(m, buf, 0);
  sign(buf, 0, buf.length, secret);
  return buf;
}

/** Verifies then decodes a datagram: throws LivenessError BadMac or a structure error. */
export function open(buf: Buffer, secret: Buffer): Message {
  if (!verify(buf, secret)) throw new LivenessError('BadMac', 'mac', 'HMAC-SHA256 does not match the shared secret', Math.max(0, buf.length - MAC_LENGTH));
  return decode(buf, 0);
}
