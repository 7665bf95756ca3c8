// MAC addresses as 6-byte Buffers, parsed from and formatted to the usual `aa:bb:cc:dd:ee:ff`.
import { FrameError } from './frame-error.js';

export type Mac = Buffer;

export const BROADCAST_MAC: Mac = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const ZERO_MAC: Mac = Buffer.alloc(6);

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`); throws FrameError naming the input. */
export function parseMac(text: string): Mac {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new FrameError('address', 'mac', `not a MAC address: ${JSON.stringify(text)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function isBroadcastMac(mac: Uint8Array): boolean {
  return mac.length >= 6 && mac[0] === 0xff && mac[1] === 0xff && mac[2] === 0xff && mac[3] === 0xff && mac[4] === 0xff && mac[5] === 0xff;
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether the 6 bytes at `offset` cannot be a host's own address: group (multicast or broadcast:
 * the I/G bit) or all zero. A frame from such an address is forged or broken; answering it would
 * send our reply to every host (RFC 826 practice; RFC 4861 §7.1.1 for link-layer options).
 */
export function isUnusableSourceMac(frame: Uint8Array, offset = 0): boolean {
  if (frame[offset] & 1) return true;
  for (let i = 0; i < 6; i++) if (frame[offset + i] !== 0) return false;
  return true;
}
