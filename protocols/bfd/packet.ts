// The BFD Control packet (RFC 5880 §4.1, authentication section §4.2-4.4), with the reception
// checks of §6.8.6 done at decode: a packet that fails one is discarded by the caller, never answered.
import { BfdError } from './errors.js';

export type BfdState = 'AdminDown' | 'Down' | 'Init' | 'Up';
/** Wire values of the State field (§4.1). */
export const STATE_CODES: Readonly<Record<BfdState, number>> = { AdminDown: 0, Down: 1, Init: 2, Up: 3 };
const STATES: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up'];

/** Diagnostic codes (§4.1). */
export const Diag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;

const DIAG_NAMES = ['none', 'control-detection-time-expired', 'echo-function-failed', 'neighbor-signaled-session-down', 'forwarding-plane-reset', 'path-down', 'concatenated-path-down', 'administratively-down', 'reverse-concatenated-path-down'];

/** Human name of a diagnostic code, for logs. */
export function diagName(diag: number): string {
  return DIAG_NAMES[diag] ?? `diag-${diag}`;
}

/** Authentication section (§4.2-4.4). The codec carries it; verifying digests is the session's job. */
export type BfdAuth =
  | { type: 'simple'; keyId: number; password: Buffer }
  | { type: 'keyed-md5' | 'meticulous-keyed-md5'; keyId: number; sequence: number; digest: Buffer }
  | { type: 'keyed-sha1' | 'meticulous-keyed-sha1'; keyId: number; sequence: number; digest: Buffer };

const AUTH_CODES = { simple: 1, 'keyed-md5': 2, 'meticulous-keyed-md5': 3, 'keyed-sha1': 4, 'meticulous-keyed-sha1': 5 } as const;

export interface ControlPacket {
  diag: number;
  state: BfdState;
  poll: boolean;
  final: boolean;
  /** C: the control plane may fail without BFD failing. */
  controlPlaneIndependent: boolean;
  demand: boolean;
  detectMult: number;
  myDiscriminator: number;
  yourDiscriminator: number;
  /** Microseconds, as on the wire. */
  desiredMinTxInterval: number;
  requiredMinRxInterval: number;
  requiredMinEchoRxInterval: number;
  auth?: BfdAuth;
}

export const VERSION = 1;
export const BASE_LENGTH = 24;
/** Longest valid packet: base plus a keyed SHA1 section. */
export const MAX_LENGTH = BASE_LENGTH + 28;

function authLength(auth: BfdAuth): number {
  switch (auth.type) {
    case 'simple':
      return 3 + auth.password.length;
    case 'keyed-md5':
    case 'meticulous-keyed-md5':
      return 24;
    default:
      return 28;
  }
}

export function encodingLength(p: ControlPacket): number {
  return BASE_LENGTH + (p.auth ? authLength(p.auth) : 0);
}

function checkUint(value: number, bits: 8 | 32, field: string, min = 0): void {
  const max = bits === 8 ? 0xff : 0xffffffff;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BfdError('EncodeRange', `${field} ${value} outside ${min}..${max}`, { field });
  }
}

/** Writes p at offset; returns the bytes written. Throws BfdError (EncodeRange) for an unencodable field. */
export function encode(p: ControlPacket, buf: Buffer, offset: number): number {
  const length = encodingLength(p);
  if (p.diag < 0 || p.diag > 31 || !Number.isInteger(p.diag)) throw new BfdError('EncodeRange', `diag ${p.diag} outside 0..31`, { field: 'diag' });
  checkUint(p.detectMult, 8, 'detectMult', 1);
  checkUint(p.myDiscriminator, 32, 'myDiscriminator', 1);
  checkUint(p.yourDiscriminator, 32, 'yourDiscriminator');
  checkUint(p.desiredMinTxInterval, 32, 'desiredMinTxInterval');
  checkUint(p.requiredMinRxInterval, 32, 'requiredMinRxInterval');
  checkUint(p.requiredMinEchoRxInterval, 32, 'requiredMinEchoRxInterval');
  if (p.poll && p.final) throw new BfdError('EncodeRange', 'P and F must not both be set (RFC 5880 §6.5)', { field: 'poll' });
  if (buf.length - offset < length) throw new BfdError('EncodeRange', `buffer has ${buf.length - offset} bytes from offset ${offset}, packet needs ${length}`, { field: 'buffer' });
  buf[offset] = (VERSION << 5) | p.diag;
  buf[offset + 1] =
    (STATE_CODES[p.state] << 6) | (p.poll ? 0x20 : 0) | (p.final ? 0x10 : 0) | (p.controlPlaneIndependent ? 0x08 : 0) | (p.auth ? 0x04 : 0) | (p.demand ? 0x02 : 0);
  buf[offset + 2] = p.detectMult;
  buf[offset + 3] = length;
  buf.writeUInt32BE(p.myDiscriminator, offset + 4);
  buf.writeUInt32BE(p.yourDiscriminator, offset + 8);
  buf.writeUInt32BE(p.desiredMinTxInterval, offset + 12);
  buf.writeUInt32BE(p.requiredMinRxInterval, offset + 16);
  buf.writeUInt32BE(p.requiredMinEchoRxInterval, offset + 20);
  if (p.auth) encodeAuth(p.auth, buf, offset + BASE_LENGTH);
  return length;
}

function encodeAuth(a: BfdAuth, buf: Buffer, at: number): void {
  checkUint(a.keyId, 8, 'auth.keyId');
  buf[at] = AUTH_CODES[a.type];
  buf[at + 1] = authLength(a);
  buf[at + 2] = a.keyId;
  if (a.type === 'simple') {
    if (a.password.length < 1 || a.password.length > 16) throw new BfdError('EncodeRange', `simple password of ${a.password.length} bytes, must be 1..16`, { field: 'auth.password' });
    a.password.copy(buf, at + 3);
    return;
  }
  const digestLength = a.type === 'keyed-md5' || a.type === 'meticulous-keyed-md5' ? 16 : 20;
  if (a.digest.length !== digestLength) throw new BfdError('EncodeRange', `${a.type} digest of ${a.digest.length} bytes, must be ${digestLength}`, { field: 'auth.digest' });
  checkUint(a.sequence, 32, 'auth.sequence');
  buf[at + 3] = 0;
  buf.writeUInt32BE(a.sequence, at + 4);
  a.digest.copy(buf, at + 8);
}

/**
 * Decodes the packet at offset; the datagram ends at buf.length. Throws BfdError naming the byte
 * offset and the RFC 5880 §6.8.6 rule for every packet the RFC says to discard.
 */
export function decode(buf: Buffer, offset: number): ControlPacket {
  const available = buf.length - offset;
  if (available < BASE_LENGTH) throw new BfdError('TooShort', `${available} bytes, a control packet has at least ${BASE_LENGTH}`, { offset, field: 'length' });
  const version = buf[offset] >> 5;
  if (version !== VERSION) throw new BfdError('BadVersion', `version ${version}, must be 1`, { offset, field: 'version' });
  const flags = buf[offset + 1];
  const authBit = (flags & 0x04) !== 0;
  const length = buf[offset + 3];
  const minLength = authBit ? BASE_LENGTH + 2 : BASE_LENGTH;
  if (length < minLength) throw new BfdError('BadLength', `Length ${length} below ${minLength}${authBit ? ' (A bit set)' : ''}`, { offset: offset + 3, field: 'length' });
  if (length > available) throw new BfdError('BadLength', `Length ${length} exceeds the ${available}-byte payload`, { offset: offset + 3, field: 'length' });
  const detectMult = buf[offset + 2];
  if (detectMult === 0) throw new BfdError('ZeroDetectMult', 'Detect Mult is zero', { offset: offset + 2, field: 'detectMult' });
  if ((flags & 0x01) !== 0) throw new BfdError('Multipoint', 'Multipoint (M) bit is set', { offset: offset + 1, field: 'multipoint' });
  const myDiscriminator = buf.readUInt32BE(offset + 4);
  if (myDiscriminator === 0) throw new BfdError('ZeroMyDiscriminator', 'My Discriminator is zero', { offset: offset + 4, field: 'myDiscriminator' });
  const yourDiscriminator = buf.readUInt32BE(offset + 8);
  const state = STATES[flags >> 6];
  if (yourDiscriminator === 0 && state !== 'Down' && state !== 'AdminDown') {
    throw new BfdError('ZeroYourDiscriminator', `Your Discriminator is zero in state ${state}`, { offset: offset + 8, field: 'yourDiscriminator' });
  }
  const poll = (flags & 0x20) !== 0;
  const final = (flags & 0x10) !== 0;
  const p: ControlPacket = {
    diag: buf[offset] & 0x1f,
    state,
    poll,
    final,
    controlPlaneIndependent: (flags & 0x08) !== 0,
    demand: (flags & 0x02) !== 0,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTxInterval: buf.readUInt32BE(offset + 12),
    requiredMinRxInterval: buf.readUInt32BE(offset + 16),
    requiredMinEchoRxInterval: buf.readUInt32BE(offset + 20),
  };
  if (authBit) p.auth = decodeAuth(buf, offset + BASE_LENGTH, length - BASE_LENGTH);
  return p;
}

function decodeAuth(buf: Buffer, at: number, room: number): BfdAuth {
  const code = buf[at];
  const len = buf[at + 1];
  if (len !== room) throw new BfdError('BadAuth', `Auth Len ${len} does not fill the ${room} bytes after the base packet`, { offset: at + 1, field: 'auth.length' });
  const keyId = len >= 3 ? buf[at + 2] : 0;
  switch (code) {
    case 1:
      if (len < 4 || len > 19) throw new BfdError('BadAuth', `simple password Auth Len ${len}, must be 4..19`, { offset: at + 1, field: 'auth.length' });
      return { type: 'simple', keyId, password: Buffer.from(buf.subarray(at + 3, at + len)) };
    case 2:
    case 3:
    case 4:
    case 5: {
      const sha = code >= 4;
      const want = sha ? 28 : 24;
      if (len !== want) throw new BfdError('BadAuth', `Auth Len ${len} for auth type ${code}, must be ${want}`, { offset: at + 1, field: 'auth.length' });
      const type = code === 2 ? 'keyed-md5' : code === 3 ? 'meticulous-keyed-md5' : code === 4 ? 'keyed-sha1' : 'meticulous-keyed-sha1';
      return { type, keyId, sequence: buf.readUInt32BE(at + 4), digest: Buffer.from(buf.subarray(at + 8, at + len)) };
    }
    default:
      throw new BfdError('BadAuth', `unknown Auth Type ${code}`, { offset: at, field: 'auth.type' });
  }
}
