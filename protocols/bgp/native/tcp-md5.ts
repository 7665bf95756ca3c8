// Loads our TCP-MD5 addon (build/Release/herald_tcp_md5.node, built by `make build` from
// binding.gyp). Found by walking up from this file, so it works from protocols/ (tsx, vitest)
// and from dist/protocols/ (the built CLI).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', ADDON_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/** The loaded addon, or an Error saying why it is not available (never throws). */
export function loadTcpMd5Addon(): TcpMd5Addon | Error {
  if (cached !== undefined) return cached;
  const path = findTcpMd5Addon();
  if (path === null) {
    cached = new Error(`TCP-MD5 addon ${ADDON_FILE} not found under build/Release: run \`make build\``);
  } else {
    try {
      cached = createRequire(import.meta.url)(path) as TcpMd5Addon;
    } catch (e) {
      cached = new Error(`TCP-MD5 addon ${path} failed to load: ${(e as Error).message}`);
    }
  }
  return cached;
}
