// TCP transport for BGP sessions: active connect (optionally from a given source address and
// port) and passive listening, both optionally with the RFC 2385 TCP MD5 signature option and a
// given IP TTL (1 for directly connected eBGP peers).
//
// Why an addon: Node's `net` has no setsockopt, and the key must be on the socket before the
// first SYN (the peer drops unsigned segments). libuv creates a net.Socket's fd lazily inside
// connect(), so there is no moment to set it from JavaScript, with or without the `sockopt`
// package (which only reaches fds that already exist, i.e. it would work only for listening
// sockets and so force the router to connect in). Our addon (protocols/bgp/native/tcp_md5.c)
// creates the socket, sets TCP_MD5SIG, and hands the fd to `new net.Socket({ fd })` or
// `server.listen({ fd })`; everything after that is plain Node streams.
import net from 'node:net';
import { loadTcpMd5Addon, type TcpMd5Addon } from './native/tcp-md5.js';
import { isIbgp, type PeerAs } from './negotiation.js';

export const BGP_PORT = 179;

/**
 * The IP TTL of a session's packets: 1 towards a directly connected eBGP peer (RFC 4271 §5.1.3's
 * usual single-hop default, as BIRD and FRR do), 255 with ebgp-multihop, and for iBGP undefined
 * (the system default: iBGP peers are often several hops away). One rule for `herald bgp announce`
 * and `herald speaker`. A dynamic peer AS is already bound to a relation (internal = iBGP), so the
 * TTL is known before the OPEN says the number.
 */
export function sessionTtl(localAs: number, peerAs: PeerAs, ebgpMultihop: boolean): number | undefined {
  if (isIbgp(localAs, peerAs)) return undefined;
  return ebgpMultihop ? 255 : 1;
}

/** A transport configuration or set-up failure, naming the option at fault. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    /** errno name from the kernel (EADDRNOTAVAIL, ...) or ERR_* for configuration problems. */
    readonly code: string,
    /** The option at fault, e.g. `sourceAddress`. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** Numeric; an IPv6 link-local one carries its interface as zone: `fe80::1%eth1` (unnumbered peers). */
  peerAddress: string;
  peerPort?: number;
  sourceAddress?: string;
  sourcePort?: number;
  /** TCP MD5 key (RFC 2385), up to 80 bytes; set for the peer address before connecting. */
  password?: string | Buffer;
  /** IP TTL / hop limit of our packets (1..255), e.g. 1 for a directly connected eBGP peer. */
  ttl?: number;
}

export interface ListenOptions {
  /** Local address to listen on (numeric). */
  address: string;
  port?: number;
  /** Peers allowed to connect in, each with its TCP MD5 key if any. */
  peers?: Array<{ address: string; password?: string | Buffer }>;
  /** IP TTL / hop limit of accepted connections (inherited from the listening socket). */
  ttl?: number;
  backlog?: number;
  /**
   * Create the socket through the addon even with no keys yet, so setListenKey() can add and
   * remove peers' keys while it listens (the speaker's peers change with its config).
   */
  keyed?: boolean;
}

/** A listening socket made by the addon: setListenKey() reaches its fd. */
interface KeyedSocket {
  fd: number;
  family: 4 | 6;
  dualStack: boolean;
  md5: TcpMd5Addon;
}
const keyedSockets = new WeakMap<net.Server, KeyedSocket>();

/** `::` (or a spelling of it): a Linux IPv6 wildcard socket also accepts IPv4 peers, v4-mapped. */
function isIpv6Wildcard(address: string): boolean {
  return net.isIPv6(address) && address.split(':').every((g) => /^0*$/.test(g));
}

/**
 * The address a peer's key is set for: on a dual-stack socket an IPv4 peer is v4-mapped (the kernel
 * then keys it as IPv4); a link-local peer's zone (fe80::1%eth0) is dropped (the key names the address).
 */
function keyAddress(peer: string, family: 4 | 6): string {
  return family === 6 && net.isIPv4(peer) ? `::ffff:${peer}` : peer.split('%')[0];
}

function checkAddress(value: string | undefined, field: string): 0 | 4 | 6 {
  if (value === undefined) return 0;
  const family = net.isIP(value);
  if (family === 0) throw new TransportError(`${field}: ${JSON.stringify(value)} is not a numeric IPv4 or IPv6 address`, 'ERR_BAD_ADDRESS', field);
  return family as 4 | 6;
}

function checkPort(value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new TransportError(`${field}: ${value} is not a port (0..65535)`, 'ERR_BAD_PORT', field);
}

function checkTtl(value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 1 || value > 255) throw new TransportError(`ttl: ${value} is not a TTL (1..255)`, 'ERR_BAD_TTL', 'ttl');
}

function keyBytes(password: string | Buffer, field: string): Buffer {
  const key = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (key.length === 0 || key.length > 80) throw new TransportError(`${field}: TCP MD5 key must be 1..80 bytes (got ${key.length})`, 'ERR_BAD_PASSWORD', field);
  return key;
}

function addon(field: string): TcpMd5Addon {
  const a = loadTcpMd5Addon();
  if (a instanceof Error) throw new TransportError(a.message, 'ERR_NO_MD5_ADDON', field);
  return a;
}

function kernelError(e: unknown, what: string, field?: string): TransportError {
  const err = e as { code?: string; message?: string };
  return new TransportError(`${what}: ${err.message ?? String(e)}`, err.code ?? 'EUNKNOWN', field);
}

/** Whether TCP MD5 can be used here (the addon is built and loads); the reason when not. */
export function tcpMd5Support(): { ok: true } | { ok: false; reason: string } {
  const a = loadTcpMd5Addon();
  return a instanceof Error ? { ok: false, reason: a.message } : { ok: true };
}

/**
 * Starts an active connection to the peer and returns the socket at once (connect failures
 * arrive as its 'error' event, like net.connect). Bad options and TCP-MD5 set-up failures
 * throw a TransportError synchronously.
 */
export function connect(opts: ConnectOptions): net.Socket {
  const family = checkAddress(opts.peerAddress, 'peerAddress');
  const srcFamily = checkAddress(opts.sourceAddress, 'sourceAddress');
  if (srcFamily !== 0 && srcFamily !== family) {
    throw new TransportError(`sourceAddress ${opts.sourceAddress} is not of the peer address's family (IPv${family})`, 'ERR_BAD_ADDRESS', 'sourceAddress');
  }
  checkPort(opts.peerPort, 'peerPort');
  checkPort(opts.sourcePort, 'sourcePort');
  checkTtl(opts.ttl);
  // No Nagle: the tail of a burst of UPDATEs (or a lone KEEPALIVE) must not wait for an ACK.
  const target: net.TcpNetConnectOpts = { host: opts.peerAddress, port: opts.peerPort ?? BGP_PORT, family, noDelay: true };
  if (opts.sourceAddress !== undefined) target.localAddress = opts.sourceAddress;
  if (opts.sourcePort !== undefined) target.localPort = opts.sourcePort;
  if (opts.password === undefined && opts.ttl === undefined) return net.connect(target);

  const key = opts.password === undefined ? undefined : keyBytes(opts.password, 'password');
  const md5 = addon(key ? 'password' : 'ttl');
  let fd: number;
  try {
    fd = md5.socket(family as 4 | 6);
  } catch (e) {
    throw kernelError(e, 'socket');
  }
  let socket: net.Socket;
  try {
    if (key) md5.setMd5(fd, keyAddress(opts.peerAddress, family as 4 | 6), key);
    if (opts.ttl !== undefined) md5.ttl(fd, family as 4 | 6, opts.ttl);
    socket = new net.Socket({ fd });
  } catch (e) {
    md5.close(fd);
    throw kernelError(e, key ? 'setting the TCP MD5 key' : 'setting the TTL', key ? 'password' : 'ttl');
  }
  // libuv binds (localAddress/localPort) and connects the fd we gave it.
  socket.setNoDelay(true);
  return socket.connect(target);
}

/**
 * Listens for peers connecting in. With passwords, the listening socket carries each peer's key,
 * which the kernel applies to the SYNs it accepts (connections from peers without the right
 * signature never reach us). Resolves once listening.
 */
export async function listen(opts: ListenOptions): Promise<net.Server> {
  const family = checkAddress(opts.address, 'address');
  checkPort(opts.port, 'port');
  checkTtl(opts.ttl);
  const peers = opts.peers ?? [];
  const dualStack = isIpv6Wildcard(opts.address);
  for (const [i, p] of peers.entries()) {
    const pf = checkAddress(p.address, `peers[${i}].address`);
    if (pf !== family && !(dualStack && pf === 4)) throw new TransportError(`peers[${i}].address ${p.address} is not IPv${family} like the listen address`, 'ERR_BAD_ADDRESS', `peers[${i}].address`);
  }
  const server = net.createServer({ noDelay: true });
  const withKeys = peers.filter((p) => p.password !== undefined);
  const ready = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  if (withKeys.length === 0 && opts.ttl === undefined && !opts.keyed) {
    server.listen({ host: opts.address, port: opts.port ?? BGP_PORT, backlog: opts.backlog ?? 16 });
  } else {
    const md5 = addon(withKeys.length ? 'peers' : 'ttl');
    let fd: number;
    try {
      fd = md5.socket(family as 4 | 6);
    } catch (e) {
      throw kernelError(e, 'socket');
    }
    try {
      for (const [i, p] of peers.entries()) {
        if (p.password !== undefined) md5.setMd5(fd, keyAddress(p.address, family as 4 | 6), keyBytes(p.password, `peers[${i}].password`));
      }
      if (opts.ttl !== undefined) md5.ttl(fd, family as 4 | 6, opts.ttl);
      md5.bind(fd, opts.address, opts.port ?? BGP_PORT);
    } catch (e) {
      md5.close(fd);
      throw e instanceof TransportError ? e : kernelError(e, `binding ${opts.address} port ${opts.port ?? BGP_PORT}`, 'address');
    }
    server.listen({ fd, backlog: opts.backlog ?? 16 });
    keyedSockets.set(server, { fd, family: family as 4 | 6, dualStack, md5 });
    server.once('close', () => keyedSockets.delete(server));
  }
  try {
    await ready;
  } catch (e) {
    server.close();
    throw kernelError(e, `listening on ${opts.address}`, 'address');
  }
  return server;
}

/**
 * Sets (or, with no password, removes) one peer's TCP MD5 key on a socket from listen() that
 * was opened with keys or `keyed`. Connections already accepted keep the key they had.
 */
export function setListenKey(server: net.Server, peerAddress: string, password: string | Buffer | undefined): void {
  const k = keyedSockets.get(server);
  if (!k) throw new TransportError('this listening socket was not opened with TCP MD5 support (listen with keyed: true)', 'ERR_NOT_KEYED', 'peers');
  const pf = checkAddress(peerAddress, 'peerAddress');
  if (pf !== k.family && !(k.dualStack && pf === 4)) throw new TransportError(`peerAddress ${peerAddress} cannot reach an IPv${k.family} listening socket`, 'ERR_BAD_ADDRESS', 'peerAddress');
  const key = password === undefined ? Buffer.alloc(0) : keyBytes(password, 'password');
  try {
    k.md5.setMd5(k.fd, keyAddress(peerAddress, k.family), key);
  } catch (e) {
    // Removing a key that was never set: nothing to do.
    if (key.length === 0 && (e as { code?: string }).code === 'ENOENT') return;
    throw kernelError(e, 'setting the TCP MD5 key', 'password');
  }
}
