// The speaker-to-speaker liveness message (SWIM: ping, ack, ping-req, nack), one per UDP datagram,
// every field big-endian, with an HMAC-SHA256 trailer over the shared secret. Two wire versions:
//
// Version 1 (the first speakers; still read and, to a peer that reads nothing else, sent):
//   0   magic 'H' 'L'           2   version (1)        3   type (1 ping, 2 ack, 3 ping-req, 4 nack)
//   4   seq (u32): the probe this message belongs to (ack/nack echo the ping's or ping-req's seq)
//   8   incarnation (u32) of the sender
//  12   from: length (u8, 1..63) + name (UTF-8)
//   .   target: length (u8, 0..63) + name: ping: the addressee; ack: who answered; ping-req/nack: the node to probe
//   .   updates: count (u8, <= MAX_UPDATES), each: state (u8: 0 alive, 1 suspect, 2 dead),
//       incarnation (u32), length (u8, 1..63) + name
//   .   mac: HMAC-SHA256(secret, every byte before it), 32 bytes
//
// Version 2 (what a speaker sends to a peer that reads it; wire.ts decides):
//   0   magic 'H' 'L'           2   version (2)        3   type
//   4   stamp (u48): the sender's message counter, strictly increasing across its restarts (wire.ts):
//       the receiver drops one it has seen or that is older than its window (a replay)
//  10   seq (u32)     14   incarnation (u32)     18   from
//   .   target: ping-req and nack only (the one type that needs it and its answer); a ping is for its
//       addressee and no receiver reads an ack's target, so they carry none (decoded as '')
//   .   updates as in version 1
//   .   mac: HMAC-SHA256 truncated to its first 16 bytes (HMAC-SHA-256-128, RFC 4868 / RFC 2104 §5)
// A ping between nodes named like `node-0042` is 45 bytes instead of 65.
//
// Names are node names (DNS labels, at most 63 bytes here: a longer one is refused when encoding).
// decode() checks the structure only; open() checks the version, then the MAC (constant time), then
// the structure: the receiver drops a datagram that fails any (counted by reason) before anything
// in it is believed.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export type MessageType = 'ping' | 'ack' | 'pingReq' | 'nack';
export type MemberState = 'alive' | 'suspect' | 'dead';
export type WireVersion = 1 | 2;

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

/** One datagram: the message, the wire version it travels in and (version 2) its replay stamp. */
export interface Datagram {
  version: WireVersion;
  /** Version 2: the sender's stamp (u48, see wire.ts). Version 1 has none: 0. */
  stamp: number;
  message: Message;
}

/** The newest version this code speaks (advertised on the speaker's Lease). */
export const VERSION: WireVersion = 2;
export const VERSIONS: readonly WireVersion[] = [1, 2];
export const MAGIC = 0x484c; // 'HL'
export const MAX_NAME = 63;
/** Updates piggybacked per message: bounds the datagram (< 1,000 bytes) whatever the cluster size. */
export const MAX_UPDATES = 8;
export const MAX_STAMP = 2 ** 48 - 1;
const HEADER = { 1: 12, 2: 18 } as const;
const MAC = { 1: 32, 2: 16 } as const;

/** Bytes of the MAC trailer in `version`. */
export function macLength(version: WireVersion): number {
  return MAC[version];
}

/** The longest datagram of any version (8 updates, every name 63 bytes): longer ones are dropped unread. */
export const MAX_LENGTH = Math.max(...VERSIONS.map((v) => HEADER[v] + 2 * (1 + MAX_NAME) + 1 + MAX_UPDATES * (1 + 4 + 1 + MAX_NAME) + MAC[v]));

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

/** Whether `type` carries its target in `version` (version 2: ping-req and nack only). */
function hasTarget(version: WireVersion, type: MessageType): boolean {
  return version === 1 || type === 'pingReq' || type === 'nack';
}

function nameLength(name: string, field: string): number {
  const n = Buffer.byteLength(name, 'utf8');
  if (n > MAX_NAME) throw new LivenessError('EncodeRange', field, `${n} bytes, at most ${MAX_NAME}`);
  return n;
}

function checkU32(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new LivenessError('EncodeRange', field, `${v} is not a u32`);
}

/** Bytes `d` takes on the wire, MAC included. */
export function encodingLength(d: Datagram): number {
  const m = d.message;
  let n = HEADER[d.version] + 1 + nameLength(m.from, 'from') + 1;
  if (hasTarget(d.version, m.type)) n += 1 + nameLength(m.target, 'target');
  for (const u of m.updates) n += 1 + 4 + 1 + nameLength(u.name, 'update name');
  return n + MAC[d.version];
}

/**
 * Writes `d` at `offset` with a zero MAC (LivenessKey.sign fills it in); returns the bytes written.
 * The caller sizes `buf` with encodingLength. Version 2 drops the target of a ping or an ack.
 */
export function encode(d: Datagram, buf: Buffer, offset: number): number {
  const m = d.message;
  if (!VERSIONS.includes(d.version)) throw new LivenessError('EncodeRange', 'version', `${String(d.version)} is not 1 or 2`);
  const length = encodingLength(d);
  if (m.from === '') throw new LivenessError('EncodeRange', 'from', 'empty name');
  if (m.updates.length > MAX_UPDATES) throw new LivenessError('EncodeRange', 'updates', `${m.updates.length} updates, at most ${MAX_UPDATES}`);
  checkU32(m.seq, 'seq');
  checkU32(m.incarnation, 'incarnation');
  if (d.version === 1 ? d.stamp !== 0 : !Number.isInteger(d.stamp) || d.stamp < 0 || d.stamp > MAX_STAMP) {
    throw new LivenessError('EncodeRange', 'stamp', `${d.stamp}: version 1 has none (0), version 2 a u48`);
  }
  if (buf.length - offset < length) throw new LivenessError('EncodeRange', 'buffer', `needs ${length} bytes from ${offset}, has ${buf.length - offset}`);
  let o = offset;
  o = buf.writeUInt16BE(MAGIC, o);
  o = buf.writeUInt8(d.version, o);
  o = buf.writeUInt8(TYPES.indexOf(m.type) + 1, o);
  if (d.version === 2) o = buf.writeUIntBE(d.stamp, o, 6);
  o = buf.writeUInt32BE(m.seq, o);
  o = buf.writeUInt32BE(m.incarnation, o);
  o = writeName(buf, o, m.from);
  if (hasTarget(d.version, m.type)) o = writeName(buf, o, m.target);
  o = buf.writeUInt8(m.updates.length, o);
  for (const u of m.updates) {
    if (u.name === '') throw new LivenessError('EncodeRange', 'update name', 'empty name');
    checkU32(u.incarnation, 'update incarnation');
    o = buf.writeUInt8(STATES.indexOf(u.state), o);
    o = buf.writeUInt32BE(u.incarnation, o);
    o = writeName(buf, o, u.name);
  }
  buf.fill(0, o, o + MAC[d.version]);
  return o + MAC[d.version] - offset;
}

function writeName(buf: Buffer, o: number, name: string): number {
  const n = buf.write(name, o + 1, 'utf8');
  buf.writeUInt8(n, o);
  return o + 1 + n;
}

/**
 * The version of the datagram at `offset` (magic and version checked), which fixes its MAC length.
 * Throws TooShort, BadMagic or BadVersion naming the byte offset.
 */
export function peekVersion(buf: Buffer, offset: number): WireVersion {
  if (buf.length - offset < 4) throw new LivenessError('TooShort', 'header', `needs 4 bytes, ${Math.max(0, buf.length - offset)} left`, offset);
  if (buf.readUInt16BE(offset) !== MAGIC) throw new LivenessError('BadMagic', 'magic', `0x${buf.readUInt16BE(offset).toString(16)}, expected 0x484c`, offset);
  const v = buf[offset + 2];
  if (v !== 1 && v !== 2) throw new LivenessError('BadVersion', 'version', `${v}, expected 1 or 2`, offset + 2);
  return v;
}

/**
 * Decodes one whole datagram `buf` from `offset` to its end (the MAC is its last 16 or 32 bytes,
 * per its version). Checks the structure only: open() checks the MAC first.
 */
export function decode(buf: Buffer, offset: number): Datagram {
  const version = peekVersion(buf, offset);
  const end = buf.length;
  const macAt = end - MAC[version];
  const need = (o: number, n: number, field: string): void => {
    if (o + n > macAt) throw new LivenessError('TooShort', field, `needs ${n} bytes, ${Math.max(0, macAt - o)} left before the MAC`, o);
  };
  let o = offset;
  need(o, HEADER[version], 'header');
  const type = TYPES[(buf[o + 3] ?? 0) - 1];
  if (type === undefined) throw new LivenessError('BadType', 'type', `${buf[o + 3]} is not 1-4`, o + 3);
  o += 4;
  let stamp = 0;
  if (version === 2) {
    stamp = buf.readUIntBE(o, 6);
    o += 6;
  }
  const seq = buf.readUInt32BE(o);
  const incarnation = buf.readUInt32BE(o + 4);
  o += 8;
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
  const target = hasTarget(version, type) ? readName('target', 0) : '';
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
  if (o !== macAt) throw new LivenessError('TrailingBytes', 'length', `${macAt - o} bytes between the last field and the MAC`, o);
  return { version, stamp, message: { type, seq, incarnation, from, target, updates } };
}

/**
 * The shared secret as a key object, made once: a `createHmac` per seal and per open from the raw
 * secret cost 21 % of a simulator worker's CPU; from a KeyObject it skips importing the key each time.
 */
export class LivenessKey {
  private readonly key: KeyObject;

  constructor(secret: Buffer) {
    this.key = createSecretKey(Buffer.from(secret));
  }

  private digest(data: Buffer): Buffer {
    return createHmac('sha256', this.key).update(data).digest();
  }

  /** Fills in the MAC of the `version` datagram in buf[offset, offset + length). */
  sign(buf: Buffer, offset: number, length: number, version: WireVersion): void {
    const macAt = offset + length - MAC[version];
    this.digest(buf.subarray(offset, macAt)).copy(buf, macAt, 0, MAC[version]);
  }

  /** Whether the `version` datagram `buf` ends with the right MAC (constant time). */
  verify(buf: Buffer, version: WireVersion): boolean {
    if (buf.length < MAC[version] + HEADER[version]) return false;
    const macAt = buf.length - MAC[version];
    return timingSafeEqual(this.digest(buf.subarray(0, macAt)).subarray(0, MAC[version]), buf.subarray(macAt));
  }
}

/** A whole signed datagram for `d`. */
export function seal(d: Datagram, key: LivenessKey): Buffer {
  const buf = Buffer.alloc(encodingLength(d));
  encode(d, buf, 0);
  key.sign(buf, 0, buf.length, d.version);
  return buf;
}

/**
 * Checks the version, then the MAC, then decodes: throws LivenessError (TooShort, BadMagic,
 * BadVersion before the MAC, whose length the version fixes; BadMac; or a structure error).
 */
export function open(buf: Buffer, key: LivenessKey): Datagram {
  const version = peekVersion(buf, 0);
  if (buf.length < HEADER[version] + MAC[version]) throw new LivenessError('TooShort', 'header', `${buf.length} bytes, a version ${version} datagram has at least ${HEADER[version] + MAC[version]}`, 0);
  if (!key.verify(buf, version)) throw new LivenessError('BadMac', 'mac', `HMAC-SHA256${version === 2 ? '-128' : ''} does not match the shared secret`, buf.length - MAC[version]);
  return decode(buf, 0);
}
