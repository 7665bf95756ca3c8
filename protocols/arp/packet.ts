// ARP (RFC 826) for Ethernet and IPv4 only: the one combination a layer2 announcer speaks.
import { FrameError, needBytes } from '../rawio/frame-error.js';
import type { Mac } from '../rawio/mac.js';
import { formatIpv4, parseIpv4 } from './ipv4-address.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_PACKET_LENGTH = 28;
const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;

export interface ArpPacket {
  /** 1 request, 2 reply. */
  op: number;
  senderMac: Mac;
  senderIp: string;
  targetMac: Mac;
  targetIp: string;
}

export function encodingLength(_p: ArpPacket): number {
  return ARP_PACKET_LENGTH;
}

export function encode(p: ArpPacket, buf: Buffer, offset = 0): number {
  if (p.op !== ARP_REQUEST && p.op !== ARP_REPLY) throw new FrameError('arp', 'arp.op', `must be 1 (request) or 2 (reply), got ${p.op}`);
  if (p.senderMac.length !== 6) throw new FrameError('arp', 'arp.senderMac', 'MAC must be 6 bytes');
  if (p.targetMac.length !== 6) throw new FrameError('arp', 'arp.targetMac', 'MAC must be 6 bytes');
  const sip = parseIpv4(p.senderIp);
  const tip = parseIpv4(p.targetIp);
  needBytes(buf, offset, ARP_PACKET_LENGTH, 'arp', 'arp');
  buf.writeUInt16BE(HTYPE_ETHERNET, offset);
  buf.writeUInt16BE(PTYPE_IPV4, offset + 2);
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  buf.writeUInt16BE(p.op, offset + 6);
  p.senderMac.copy(buf, offset + 8);
  sip.copy(buf, offset + 14);
  p.targetMac.copy(buf, offset + 18);
  tip.copy(buf, offset + 24);
  return ARP_PACKET_LENGTH;
}

export function decode(buf: Buffer, offset = 0): ArpPacket {
  needBytes(buf, offset, 8, 'arp', 'arp');
  const htype = buf.readUInt16BE(offset);
  if (htype !== HTYPE_ETHERNET) throw new FrameError('arp', 'arp.hardwareType', `expected 1 (Ethernet), got ${htype}`, offset);
  const ptype = buf.readUInt16BE(offset + 2);
  if (ptype !== PTYPE_IPV4) throw new FrameError('arp', 'arp.protocolType', `expected 0x0800 (IPv4), got 0x${ptype.toString(16)}`, offset + 2);
  if (buf[offset + 4] !== 6) throw new FrameError('arp', 'arp.hardwareLength', `expected 6, got ${buf[offset + 4]}`, offset + 4);
  if (buf[offset + 5] !== 4) throw new FrameError('arp', 'arp.protocolLength', `expected 4, got ${buf[offset + 5]}`, offset + 5);
  const op = buf.readUInt16BE(offset + 6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) throw new FrameError('arp', 'arp.op', `expected 1 or 2, got ${op}`, offset + 6);
  needBytes(buf, offset, ARP_PACKET_LENGTH, 'arp', 'arp');
  return {
    op,
    senderMac: Buffer.from(buf.subarray(offset + 8, offset + 14)),
    senderIp: formatIpv4(buf, offset + 14),
    targetMac: Buffer.from(buf.subarray(offset + 18, offset + 24)),
    targetIp: formatIpv4(buf, offset + 24),
  };
}
