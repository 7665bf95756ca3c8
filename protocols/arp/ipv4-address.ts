// Dotted-quad IPv4 addresses <-> 4 bytes, with a FrameError naming the input.
import { isIPv4 } from 'node:net';
import { FrameError } from '../rawio/frame-error.js';

export function parseIpv4(text: string): Buffer {
  if (!isIPv4(text)) throw new FrameError('address', 'ipv4', `not an IPv4 address: ${JSON.stringify(text)}`);
  return Buffer.from(text.split('.').map(Number));
}

export function formatIpv4(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}
