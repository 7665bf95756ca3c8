// The solicited-node multicast group of an address (RFC 4291 §2.7.1) and the Ethernet MAC of an
// IPv6 multicast group (RFC 2464 §7).
import { FrameError } from '../rawio/frame-error.js';
import type { Mac } from '../rawio/mac.js';

export const ALL_NODES = Buffer.from('ff020000000000000000000000000001', 'hex');

/** ff02::1:ffXX:XXXX from the low 24 bits of the address. */
export function solicitedNodeAddress(addr: Uint8Array): Buffer {
  if (addr.length !== 16) throw new FrameError('address', 'ipv6', `address must be 16 bytes, got ${addr.length}`);
  const out = Buffer.from('ff0200000000000000000001ff000000', 'hex');
  out[13] = addr[13];
  out[14] = addr[14];
  out[15] = addr[15];
  return out;
}

/** 33:33 followed by the low 32 bits of the group. */
export function multicastMac(group: Uint8Array): Mac {
  if (group.length !== 16 || group[0] !== 0xff) throw new FrameError('address', 'ipv6', 'not an IPv6 multicast address');
  return Buffer.from([0x33, 0x33, group[12], group[13], group[14], group[15]]);
}
