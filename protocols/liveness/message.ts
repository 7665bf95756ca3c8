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
// Version 3 (wire v3, 2026-12-07: traffic independent of the node names' length):
//   as version 2, but every node name (from, target, update names) is a *reference*: 0xff + the
//   node's 32-bit id (5 bytes), or, as before, length (u8, 0..63) + name. The id is a keyed hash of
//   the name (node-ids.ts: HMAC-SHA256 of the name under a key derived from the shared secret, first
//   4 bytes); the receiver maps it back through its member list (the Leases). A name whose id
//   collides with another member's goes as its name (sender and receiver each check their own list).
//   Decoding: an id in `from` that names no member (or two) throws UnknownId (the datagram is dropped
//   and counted); in a target it decodes as '' (the receiver answers nack, as for a non-member);
//   an update about an unknown id is skipped (counted in `skipped`: non-members' updates are
//   ignored anyway). A ping is 40 bytes, whatever the names.
//
// Names are node names (DNS labels, at most 63 bytes here: a longer one is refused when encoding).
// decode() checks the structure only; open() checks the version, then the MAC (constant time), then
// the structure: the receiver drops a datagram that fails any (counted by reason) before anything
// in it is believed.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export type MessageType = 'ping' | 'ack' | 'pingReq' | 'nack';
export type MemberState = 'alive' | 'suspect' | 'dead';
export type WireVersion = 1 | 2 | 3;

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

/** One datagram: the message, the wire version it travels in and (version 2, 3) its replay stamp. */
export interface Datagram {
  version: WireVersion;
  /** Versions 2 and 3: the sender's stamp (u48, see wire.ts). Version 1 has none: 0. */
  stamp: number;
  message: Message;
  /** Version 3, decoded: updates about ids that name no member, left out (absent when none). */
  skipped?: number;
}

/**
 * Node ids of version 3 (node-ids.ts keeps them for the member list): `idOf` is undefined for a name
 * that goes as its name (unknown, or its id collides), `nameOf` for an id that names no one member.
 */
export interface NodeIdTable {
  idOf(name: string): number | undefined;
  nameOf(id: number): string | undefined;
}

/** The newest version this code speaks (advertised on the speaker's Lease). */
export const VERSION: WireVersion = 3;
export const VERSIONS: readonly WireVersion[] = [1, 2, 3];
export const MAGIC = 0x484c; // 'HL'
export const MAX_NAME = 63;
/** Updates piggybacked per message: bounds the datagram (< 1,000 bytes) whatever the cluster size. */
export const MAX_UPDATES = 8;
export const MAX_STAMP = 2 ** 48 - 1;
/** Version 3: a reference byte that says a 32-bit node id follows (a name's length is at most 63). */
export const ID_TAG = 0xff;
const HEADER = { 1: 12, 2: 18, 3: 18 } as const;
const MAC = { 1: 32, 2: 16, 3: 16 } as const;

/** Bytes of the MAC trailer in `version`. */
export function macLength(version: WireVersion): number {
  return MAC[version];
}

/** The longest datagram of any version (8 updates, every name 63 bytes): longer ones are dropped unread. */
export const MAX_LENGTH = Math.max(...VERSIONS.map((v) => HEADER[v] + 2 * (1 + MAX_NAME) + 1 + MAX_UPDATES * (1 + 4 + 1 + MAX_NAME) + MAC[v]));

const TYPES: readonly MessageType[] = ['ping', 'ack', 'pingReq', 'nack'];
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead'];

export type LivenessErrorCode = 'TooShort' | 'BadMagic' | 'BadVersion' | 'BadType' | 'BadName' | 'BadState' | 'TooManyUpdates' | 'TrailingBytes' | 'BadMac' | 'UnknownId' | 'EncodeRange';

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

/** Whether `type` carries its target in `version` (versions 2 and 3: ping-req and nack only). */
function hasTarget(version: WireVersion, type: MessageType): boolean {
  return version === 1 || type === 'pingReq' || type === 'nack';
}

function nameLength(name: string, field: string): number {
  const n = Buffer.byteLength(name, 'utf8');
  if (n > MAX_NAME) throw new LivenessError('EncodeRange', field, `${n} bytes, at most ${MAX_NAME}`);
  return n;
}

/** Bytes a name field takes: version 3 writes a known, unambiguous node as its id. */
function refLength(version: WireVersion, name: string, field: string, ids: NodeIdTable | undefined): number {
  if (version === 3 && name !== '' && ids?.idOf(name) !== undefined) return 5;
  return 1 + nameLength(name, field);
}

function checkU32(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new LivenessError('EncodeRange', field, `${v} is not a u32`);
}

/** Bytes `d` takes on the wire, MAC included (version 3: with the ids of `ids`). */
export function encodingLength(d: Datagram, ids?: NodeIdTable): number {
  const m = d.message;
  const v = d.version;
  let n = HEADER[v] + refLength(v, m.from, 'from', ids) + 1;
  if (hasTarget(v, m.type)) n += refLength(v, m.target, 'target', ids);
  for (const u of m.updates) n += 1 + 4 + refLength(v, u.name, 'update name', ids);
  return n + MAC[v];
}

/**
 * Writes `d` at `offset` with a zero MAC (LivenessKey.sign fills it in); returns the bytes written.
 * The caller sizes `buf` with encodingLength (or MAX_LENGTH). Versions 2 and 3 drop the target of a
 * ping or an ack; version 3 writes the nodes `ids` knows as their ids.
 */
export function encode(d: Datagram, buf: Buffer, offset: number, ids?: NodeIdTable): number {
  const m = d.message;
  const v = d.version;
  if (!VERSIONS.includes(v)) throw new LivenessError('EncodeRange', 'version', `${String(v)} is not one of ${VERSIONS.join(', ')}`);
  const length = encodingLength(d, ids);
  if (m.from === '') throw new LivenessError('EncodeRange', 'from', 'empty name');
  if (m.updates.length > MAX_UPDATES) throw new LivenessError('EncodeRange', 'updates', `${m.updates.length} updates, at most ${MAX_UPDATES}`);
  checkU32(m.seq, 'seq');
  checkU32(m.incarnation, 'incarnation');
  if (v === 1 ? d.stamp !== 0 : !Number.isInteger(d.stamp) || d.stamp < 0 || d.stamp > MAX_STAMP) {
    throw new LivenessError('EncodeRange', 'stamp', `${d.stamp}: version 1 has none (0), versions 2 and 3 a u48`);
  }
  if (buf.length - offset < length) throw new LivenessError('EncodeRange', 'buffer', `needs ${length} bytes from ${offset}, has ${buf.length - offset}`);
  let o = offset;
  o = buf.writeUInt16BE(MAGIC, o);
  o = buf.writeUInt8(v, o);
  o = buf.writeUInt8(TYPES.indexOf(m.type) + 1, o);
  if (v !== 1) o = buf.writeUIntBE(d.stamp, o, 6);
  o = buf.writeUInt32BE(m.seq, o);
  o = buf.writeUInt32BE(m.incarnation, o);
  o = writeRef(buf, o, v, m.from, ids);
  if (hasTarget(v, m.type)) o = writeRef(buf, o, v, m.target, ids);
  o = buf.writeUInt8(m.updates.length, o);
  for (const u of m.updates) {
    if (u.name === '') throw new LivenessError('EncodeRange', 'update name', 'empty name');
    checkU32(u.incarnation, 'update incarnation');
    o = buf.writeUInt8(STATES.indexOf(u.state), o);
    o = buf.writeUInt32BE(u.incarnation, o);
    o = writeRef(buf, o, v, u.name, ids);
  }
  buf.fill(0, o, o + MAC[v]);
  return o + MAC[v] - offset;
}

function writeRef(buf: Buffer, o: number, version: WireVersion, name: string, ids: NodeIdTable | undefined): number {
  const id = version === 3 && name !== '' ? ids?.idOf(name) : undefined;
  if (id !== undefined) {
    buf[o] = ID_TAG;
    return buf.writeUInt32BE(id, o + 1);
  }
  const n = buf.write(name, o + 1, 'utf8');
  buf[o] = n;
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
  if (v !== 1 && v !== 2 && v !== 3) throw new LivenessError('BadVersion', 'version', `${v}, expected 1, 2 or 3`, offset + 2);
  return v;
}

/** Decoding state (no closure per datagram: the receive path runs this 10,000 times a second at scale). */
class Reader {
  o: number;
  constructor(
    readonly buf: Buffer,
    offset: number,
    readonly macAt: number,
    readonly version: WireVersion,
    readonly ids: NodeIdTable | undefined,
  ) {
    this.o = offset;
  }

  need(n: number, field: string, at = this.o): void {
    if (at + n > this.macAt) throw new LivenessError('TooShort', field, `needs ${n} bytes, ${Math.max(0, this.macAt - at)} left before the MAC`, at);
  }

  /** A name field; version 3: or an id, resolved through `ids` (undefined: it names no one member). */
  ref(field: string, min: number): string | undefined {
    this.need(1, field);
    const at = this.o;
    const n = this.buf[at] ?? 0;
    if (this.version === 3 && n === ID_TAG) {
      this.need(5, field);
      this.o += 5;
      return this.ids?.nameOf(this.buf.readUInt32BE(at + 1));
    }
    if (n < min || n > MAX_NAME) throw new LivenessError('BadName', field, `length ${n}, expected ${min}..${MAX_NAME}${this.version === 3 ? ` or 0x${ID_TAG.toString(16)} (an id)` : ''}`, at);
    this.need(1 + n, field);
    const name = this.buf.toString('utf8', at + 1, at + 1 + n);
    if (Buffer.byteLength(name, 'utf8') !== n) throw new LivenessError('BadName', field, 'not valid UTF-8', at + 1);
    this.o += 1 + n;
    return name;
  }
}

/**
 * Decodes one whole datagram `buf` from `offset` to its end (the MAC is its last 16 or 32 bytes,
 * per its version). Checks the structure only: open() checks the MAC first. Version 3 resolves ids
 * through `ids` (see the header: UnknownId for the sender, '' for a target, updates skipped).
 */
export function decode(buf: Buffer, offset: number, ids?: NodeIdTable): Datagram {
  const version = peekVersion(buf, offset);
  const r = new Reader(buf, offset, buf.length - MAC[version], version, ids);
  r.need(HEADER[version], 'header');
  const type = TYPES[(buf[offset + 3] ?? 0) - 1];
  if (type === undefined) throw new LivenessError('BadType', 'type', `${buf[offset + 3]} is not 1-4`, offset + 3);
  r.o += 4;
  let stamp = 0;
  if (version !== 1) {
    stamp = buf.readUIntBE(r.o, 6);
    r.o += 6;
  }
  const seq = buf.readUInt32BE(r.o);
  const incarnation = buf.readUInt32BE(r.o + 4);
  r.o += 8;
  const fromAt = r.o;
  const from = r.ref('from', 1);
  if (from === undefined) throw new LivenessError('UnknownId', 'from', `id 0x${buf.readUInt32BE(fromAt + 1).toString(16)} names no member`, fromAt);
  const target = hasTarget(version, type) ? (r.ref('target', 0) ?? '') : '';
  r.need(1, 'updates');
  const count = buf[r.o] ?? 0;
  if (count > MAX_UPDATES) throw new LivenessError('TooManyUpdates', 'updates', `${count}, at most ${MAX_UPDATES}`, r.o);
  r.o += 1;
  const updates: Update[] = [];
  let skipped = 0;
  for (let i = 0; i < count; i++) {
    r.need(5, `update ${i}`);
    const state = STATES[buf[r.o] ?? 255];
    if (state === undefined) throw new LivenessError('BadState', `update ${i} state`, `${buf[r.o]} is not 0-2`, r.o);
    const inc = buf.readUInt32BE(r.o + 1);
    r.o += 5;
    const name = r.ref(`update ${i} name`, 1);
    if (name === undefined) skipped++;
    else updates.push({ state, incarnation: inc, name });
  }
  if (r.o !== r.macAt) throw new LivenessError('TrailingBytes', 'length', `${r.macAt - r.o} bytes between the last field and the MAC`, r.o);
  const d: Datagram = { version, stamp, message: { type, seq, incarnation, from, target, updates } };
  if (skipped > 0) d.skipped = skipped;
  return d;
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

/** A whole signed datagram for `d` (version 3: with the ids of `ids`). */
export function seal(d: Datagram, key: LivenessKey, ids?: NodeIdTable): Buffer {
  const buf = Buffer.alloc(encodingLength(d, ids));
  encode(d, buf, 0, ids);
  key.sign(buf, 0, buf.length, d.version);
  return buf;
}

/**
 * Checks the version, then the MAC, then decodes: throws LivenessError (TooShort, BadMagic,
 * BadVersion before the MAC, whose length the version fixes; BadMac; or a structure error, or
 * UnknownId for a version 3 sender that names no member of `ids`).
 */
export function open(buf: Buffer, key: LivenessKey, ids?: NodeIdTable): Datagram {
  const version = peekVersion(buf, 0);
  if (buf.length < HEADER[version] + MAC[version]) throw new LivenessError('TooShort', 'header', `${buf.length} bytes, a version ${version} datagram has at least ${HEADER[version] + MAC[version]}`, 0);
  if (!key.verify(buf, version)) throw new LivenessError('BadMac', 'mac', `HMAC-SHA256${version === 1 ? '' : '-128'} does not match the shared secret`, buf.length - MAC[version]);
  return decode(buf, 0, ids);
}
