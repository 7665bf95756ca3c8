// ICMPv6 Router Solicitation and Router Advertisement (RFC 4861 §4.1, §4.2) with the options a BGP
// unnumbered link needs: Source Link-Layer Address (§4.6.1), Prefix Information (§4.6.2) and MTU
// (§4.6.4). Unknown options are skipped; an option of length 0 is an error (§4.6). The checksum field
// is written as zero here; router-frames.ts fills it in, since it covers the IPv6 pseudo-header.
import { FrameError, needBytes } from '../rawio/frame-error.js';
import type { Mac } from '../rawio/mac.js';

export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const RS_FIXED_LENGTH = 8;
export const RA_FIXED_LENGTH = 16;
const OPT_SOURCE_LL = 1;
const OPT_PREFIX_INFORMATION = 3;
const OPT_MTU = 5;
const PREFIX_OPTION_LENGTH = 32;

/** Prefix Information option (§4.6.2). Lifetimes in seconds, 0xffffffff = infinity. */
export interface PrefixInformation {
  prefixLength: number;
  /** L flag. */
  onLink: boolean;
  /** A flag (SLAAC). */
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
  /** 16 bytes. */
  prefix: Buffer;
}

export interface RouterSolicitation {
  type: typeof ICMPV6_ROUTER_SOLICITATION;
  /** Must be absent when the source is the unspecified address (§4.1). */
  sourceLinkLayer?: Mac;
}

export interface RouterAdvertisement {
  type: typeof ICMPV6_ROUTER_ADVERTISEMENT;
  /** 0 = unspecified. */
  curHopLimit: number;
  /** M flag. */
  managed: boolean;
  /** O flag. */
  other: boolean;
  /** Seconds as a default router; 0 = not a default router (still a neighbour router). */
  routerLifetime: number;
  /** Milliseconds; 0 = unspecified. */
  reachableTime: number;
  /** Milliseconds; 0 = unspecified. */
  retransTimer: number;
  sourceLinkLayer?: Mac;
  mtu?: number;
  prefixes: PrefixInformation[];
}

export type RouterMessage = RouterSolicitation | RouterAdvertisement;

export function encodingLength(m: RouterMessage): number {
  const ll = m.sourceLinkLayer ? 8 : 0;
  if (m.type === ICMPV6_ROUTER_SOLICITATION) return RS_FIXED_LENGTH + ll;
  return RA_FIXED_LENGTH + ll + (m.mtu !== undefined ? 8 : 0) + m.prefixes.length * PREFIX_OPTION_LENGTH;
}

function checkUint(value: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new FrameError('ndp', field, `out of range: ${value}`);
}

function validate(m: RouterMessage): void {
  if (m.sourceLinkLayer && m.sourceLinkLayer.length !== 6) {
    throw new FrameError('ndp', 'ndp.option.sourceLinkLayer', `MAC must be 6 bytes, got ${m.sourceLinkLayer.length}`);
  }
  if (m.type === ICMPV6_ROUTER_SOLICITATION) return;
  checkUint(m.curHopLimit, 0xff, 'ra.curHopLimit');
  checkUint(m.routerLifetime, 0xffff, 'ra.routerLifetime');
  checkUint(m.reachableTime, 0xffffffff, 'ra.reachableTime');
  checkUint(m.retransTimer, 0xffffffff, 'ra.retransTimer');
  if (m.mtu !== undefined) checkUint(m.mtu, 0xffffffff, 'ra.option.mtu');
  m.prefixes.forEach((p, i) => {
    checkUint(p.prefixLength, 128, `ra.option.prefix[${i}].prefixLength`);
    checkUint(p.validLifetime, 0xffffffff, `ra.option.prefix[${i}].validLifetime`);
    checkUint(p.preferredLifetime, 0xffffffff, `ra.option.prefix[${i}].preferredLifetime`);
    if (p.prefix.length !== 16) throw new FrameError('ndp', `ra.option.prefix[${i}].prefix`, `address must be 16 bytes, got ${p.prefix.length}`);
  });
}

export function encode(m: RouterMessage, buf: Buffer, offset = 0): number {
  validate(m);
  const len = encodingLength(m);
  needBytes(buf, offset, len, 'ndp', m.type === ICMPV6_ROUTER_SOLICITATION ? 'rs' : 'ra');
  buf.fill(0, offset, offset + len);
  buf[offset] = m.type;
  let o = offset + RS_FIXED_LENGTH;
  if (m.type === ICMPV6_ROUTER_ADVERTISEMENT) {
    buf[offset + 4] = m.curHopLimit;
    buf[offset + 5] = (m.managed ? 0x80 : 0) | (m.other ? 0x40 : 0);
    buf.writeUInt16BE(m.routerLifetime, offset + 6);
    buf.writeUInt32BE(m.reachableTime, offset + 8);
    buf.writeUInt32BE(m.retransTimer, offset + 12);
    o = offset + RA_FIXED_LENGTH;
  }
  if (m.sourceLinkLayer) {
    buf[o] = OPT_SOURCE_LL;
    buf[o + 1] = 1;
    m.sourceLinkLayer.copy(buf, o + 2);
    o += 8;
  }
  if (m.type === ICMPV6_ROUTER_SOLICITATION) return len;
  if (m.mtu !== undefined) {
    buf[o] = OPT_MTU;
    buf[o + 1] = 1;
    buf.writeUInt32BE(m.mtu, o + 4);
    o += 8;
  }
  for (const p of m.prefixes) {
    buf[o] = OPT_PREFIX_INFORMATION;
    buf[o + 1] = PREFIX_OPTION_LENGTH / 8;
    buf[o + 2] = p.prefixLength;
    buf[o + 3] = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
    buf.writeUInt32BE(p.validLifetime, o + 4);
    buf.writeUInt32BE(p.preferredLifetime, o + 8);
    p.prefix.copy(buf, o + 16);
    o += PREFIX_OPTION_LENGTH;
  }
  return len;
}

/**
 * Decodes an RS or RA occupying buf[offset, end) (end defaults to the buffer's end). Checks code 0,
 * the minimum length and the option lengths (RFC 4861 §6.1.1, §6.1.2); the checksum and the IPv6
 * fields are the frame's business (router-frames.ts).
 */
export function decode(buf: Buffer, offset = 0, end = buf.length): RouterMessage {
  const msg = buf.subarray(0, end);
  needBytes(msg, offset, 4, 'icmpv6', 'icmpv6');
  const type = msg[offset];
  if (type !== ICMPV6_ROUTER_SOLICITATION && type !== ICMPV6_ROUTER_ADVERTISEMENT) {
    throw new FrameError('icmpv6', 'icmpv6.type', `expected 133 (RS) or 134 (RA), got ${type}`, offset);
  }
  if (msg[offset + 1] !== 0) throw new FrameError('ndp', 'ndp.code', `must be 0, got ${msg[offset + 1]}`, offset + 1);
  const fixed = type === ICMPV6_ROUTER_SOLICITATION ? RS_FIXED_LENGTH : RA_FIXED_LENGTH;
  if (offset + fixed > msg.length) {
    throw new FrameError('ndp', 'ndp.length', `${Math.max(0, msg.length - offset)} bytes, need at least ${fixed} (RFC 4861 §6.1)`, offset);
  }
  let ll: Mac | undefined;
  let mtu: number | undefined;
  const prefixes: PrefixInformation[] = [];
  let o = offset + fixed;
  for (let i = 0; o < msg.length; i++) {
    needBytes(msg, o, 2, 'ndp', `ndp.option[${i}]`);
    const optType = msg[o];
    const optLen = msg[o + 1] * 8;
    if (optLen === 0) throw new FrameError('ndp', `ndp.option[${i}].length`, 'option length 0 (RFC 4861 §4.6: discard)', o + 1);
    needBytes(msg, o, optLen, 'ndp', `ndp.option[${i}]`);
    // Link-layer options longer than one unit belong to other link types: not Ethernet's, ignore.
    if (optType === OPT_SOURCE_LL && optLen === 8 && ll === undefined) ll = Buffer.from(msg.subarray(o + 2, o + 8));
    else if (type === ICMPV6_ROUTER_ADVERTISEMENT && optType === OPT_MTU) {
      if (optLen !== 8) throw new FrameError('ndp', `ndp.option[${i}].length`, `MTU option must be 1 unit, got ${optLen / 8}`, o + 1);
      if (mtu === undefined) mtu = msg.readUInt32BE(o + 4);
    } else if (type === ICMPV6_ROUTER_ADVERTISEMENT && optType === OPT_PREFIX_INFORMATION) {
      if (optLen !== PREFIX_OPTION_LENGTH) throw new FrameError('ndp', `ndp.option[${i}].length`, `prefix information must be 4 units, got ${optLen / 8}`, o + 1);
      const prefixLength = msg[o + 2];
      if (prefixLength > 128) throw new FrameError('ndp', `ndp.option[${i}].prefixLength`, `must be at most 128, got ${prefixLength}`, o + 2);
      prefixes.push({
        prefixLength,
        onLink: (msg[o + 3] & 0x80) !== 0,
        autonomous: (msg[o + 3] & 0x40) !== 0,
        validLifetime: msg.readUInt32BE(o + 4),
        preferredLifetime: msg.readUInt32BE(o + 8),
        prefix: Buffer.from(msg.subarray(o + 16, o + 32)),
      });
    }
    o += optLen;
  }
  if (type === ICMPV6_ROUTER_SOLICITATION) return ll ? { type, sourceLinkLayer: ll } : { type };
  const ra: RouterAdvertisement = {
    type,
    curHopLimit: msg[offset + 4],
    managed: (msg[offset + 5] & 0x80) !== 0,
    other: (msg[offset + 5] & 0x40) !== 0,
    routerLifetime: msg.readUInt16BE(offset + 6),
    reachableTime: msg.readUInt32BE(offset + 8),
    retransTimer: msg.readUInt32BE(offset + 12),
    prefixes,
  };
  if (ll) ra.sourceLinkLayer = ll;
  if (mtu !== undefined) ra.mtu = mtu;
  return ra;
}
