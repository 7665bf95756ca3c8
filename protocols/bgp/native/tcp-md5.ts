// Loads our TCP-MD5 addon (build/Release/herald_tcp_md5.node, built by `make build` from binding.gyp).
import { findAddon, loadAddon } from '../../native-addon.js';

export interface TcpMd5Addon {
  /** A non-blocking, close-on-exec TCP socket of the given family; returns its fd. */
  socket(family: 4 | 6): number;
  /** Sets the RFC 2385 key for one peer address on the socket (an empty key removes it). */
  setMd5(fd: number, peerAddress: string, key: Buffer): void;
  bind(fd: number, address: string, port: number): void;
  /** Sets the IPv4 TTL / IPv6 unicast hop limit (1..255; -1 only reads) and returns the value in force. */
  ttl(fd: number, family: 4 | 6, value: number): number;
  close(fd: number): void;
}

const ADDON_FILE = 'herald_tcp_md5.node';
let cached: TcpMd5Addon | Error | undefined;

/** The addon's path, or null when it has not been built. */
export function findTcpMd5Addon(): string | null {
  return findAddon(ADDON_FILE);
}

/** The loaded addon, or an Error saying why it is not available (never throws). */
export function loadTcpMd5Addon(): TcpMd5Addon | Error {
  if (cached === undefined) cached = loadAddon<TcpMd5Addon>(ADDON_FILE, 'TCP-MD5');
  return cached;
}
