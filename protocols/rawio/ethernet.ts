// Ethernet II header codec (no VLAN tag: packet sockets get frames with the tag already stripped).
import { FrameError, needBytes } from './frame-error.js';
import type { Mac } from './mac.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERNET_HEADER_LENGTH = 14;

export interface EthernetHeader {
  dst: Mac;
  src: Mac;
  etherType: number;
}

export function encodingLength(_h: EthernetHeader): number {
  return ETHERNET_HEADER_LENGTH;
}

export function encode(h: EthernetHeader, buf: Buffer, offset = 0): number {
  if (h.dst.length !== 6) throw new FrameError('ethernet', 'ethernet.dst', `MAC must be 6 bytes, got ${h.dst.length}`);
  if (h.src.length !== 6) throw new FrameError('ethernet', 'ethernet.src', `MAC must be 6 bytes, got ${h.src.length}`);
  if (!Number.isInteger(h.etherType) || h.etherType < 0x600 || h.etherType > 0xffff) {
    throw new FrameError('ethernet', 'ethernet.etherType', `not an Ethernet II type: ${h.etherType}`);
  }
  needBytes(buf, offset, ETHERNET_HEADER_LENGTH, 'ethernet', 'ethernet');
  h.dst.copy(buf, offset);
  h.src.copy(buf, offset + 6);
  buf.writeUInt16BE(h.etherType, offset + 12);
  return ETHERNET_HEADER_LENGTH;
}

export function decode(buf: Buffer, offset = 0): EthernetHeader {
  needBytes(buf, offset, ETHERNET_HEADER_LENGTH, 'ethernet', 'ethernet');
  const etherType = buf.readUInt16BE(offset + 12);
  if (etherType < 0x600) throw new FrameError('ethernet', 'ethernet.etherType', `802.3 length field ${etherType}, not Ethernet II`, offset + 12);
  return {
    dst: Buffer.from(buf.subarray(offset, offset + 6)),
    src: Buffer.from(buf.subarray(offset + 6, offset + 12)),
    etherType,
  };
}
