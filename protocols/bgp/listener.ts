// Passive BGP: one listening socket for all configured peers. A connection is handed to the
// session of the peer it comes from (which resolves a collision with its own outgoing connection
// per RFC 4271 §6.8); a connection from anyone else is destroyed at once, counted, and logged at a
// limited rate (one line per reason per minute plus a summary), so a scanner holds no descriptor
// and cannot fill the logs. With TCP MD5,
// each peer's key sits on the listening socket, so the kernel drops unsigned or wrongly signed
// SYNs before we ever see them; keys follow setPeers() while the socket listens.
import net from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { LogLimiter } from './log-limiter.js';
import type { BgpResources, RefuseReason } from './resources.js';
import type { SessionLogger, SocketLike } from './session.js';
import { BGP_PORT, listen as tcpListen, setListenKey, tcpMd5Support, type ListenOptions } from './transport.js';

export interface ListenerPeer {
  /** The peer's address: connections must come from it. */
  address: string;
  /** TCP MD5 key for this peer (set on the listening socket). */
  password?: string | Buffer;
  /**
   * The local address this peer's session uses, if configured: with several peers at one
   * address, it tells which session a connection (to that local address) belongs to.
   */
  sourceAddress?: string;
  /** Takes over an accepted connection (BgpSession.acceptIncoming). */
  accept(socket: SocketLike): void;
}

/** What the listener needs of a listening server (net.Server fits). */
export interface ListeningServer {
  on(event: 'connection', listener: (socket: net.Socket) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(callback?: (err?: Error) => void): unknown;
  address(): net.AddressInfo | string | null;
}

export interface BgpListenerOptions {
  /** Numeric local address; `::` also accepts IPv4 peers (dual stack). */
  address: string;
  /** Default 179. */
  port?: number;
  /** TTL / hop limit of accepted connections. */
  ttl?: number;
  log?: SessionLogger;
  /** Initial peers (their keys are on the socket before it listens). */
  peers?: ListenerPeer[];
  /** Test seams: the socket (default protocols/bgp/transport.ts) and how keys reach it. */
  listen?: (opts: ListenOptions) => Promise<ListeningServer>;
  setKey?: (server: ListeningServer, peerAddress: string, password: string | Buffer | undefined) => void;
  /** Counters shared with the sessions (open sockets, refusals). */
  resources?: BgpResources;
  /** Clock of the refusal log's rate limit (default: the system clock). */
  clock?: Clock;
}

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) -> "192.0.2.1". */
function plainAddress(address: string | undefined): string | undefined {
  return address?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

function keyId(password: string | Buffer | undefined): string {
  if (password === undefined) return '';
  return typeof password === 'string' ? `s:${password}` : `b:${password.toString('hex')}`;
}

export class BgpListener {
  private peers: ListenerPeer[] = [];
  /** The key now on the socket per peer address ('' = none). */
  private readonly keys = new Map<string, string>();
  private closed = false;
  private readonly limiter: LogLimiter;

  private constructor(
    private readonly server: ListeningServer,
    private readonly opts: BgpListenerOptions,
    /** Whether keys can be set on this socket (the TCP-MD5 addon is there). */
    private readonly keyed: boolean,
  ) {
    this.limiter = new LogLimiter(opts.clock ?? systemClock);
    server.on('connection', (socket) => this.handle(socket));
    // A listening server reports accept failures (EMFILE, ENFILE, ...) as 'error' events: without a
    // listener they would end the process. The socket keeps listening; the next accept may work.
    server.on('error', (err) => {
      this.acceptErrors++;
      this.opts.log?.error({ event: 'acceptError', code: (err as { code?: string }).code }, `accepting a BGP connection failed: ${err.message}; still listening`);
    });
  }

  /** Accept failures seen while listening (each logged). */
  acceptErrors = 0;

  /**
   * Listens (rejects with a TransportError naming the cause, e.g. EACCES below port 1024 without
   * CAP_NET_BIND_SERVICE, EADDRINUSE). Without the TCP-MD5 addon it still listens; peers with a
   * password then cannot connect in, and setPeers() says so.
   */
  static async open(opts: BgpListenerOptions): Promise<BgpListener> {
    const keyed = opts.setKey !== undefined || tcpMd5Support().ok;
    const initial = opts.peers ?? [];
    const listenOpts: ListenOptions = { address: opts.address, port: opts.port ?? BGP_PORT, keyed };
    if (keyed) listenOpts.peers = initial.map((p) => (p.password !== undefined ? { address: p.address, password: p.password } : { address: p.address }));
    if (opts.ttl !== undefined) listenOpts.ttl = opts.ttl;
    const server = await (opts.listen ?? tcpListen)(listenOpts);
    const listener = new BgpListener(server, opts, keyed);
    for (const p of initial) if (keyed && p.password !== undefined) listener.keys.set(p.address, keyId(p.password));
    listener.setPeers(initial);
    return listener;
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : (this.opts.port ?? BGP_PORT);
  }

  get address(): string {
    return this.opts.address;
  }

  /** The peers allowed to connect in, replacing the previous set; their keys follow. */
  setPeers(peers: ListenerPeer[]): void {
    this.peers = [...peers];
    const wanted = new Map<string, string | Buffer | undefined>();
    for (const p of peers) {
      // Several sessions to one address share its key; the first with one wins (they should agree).
      if (!wanted.has(p.address) || wanted.get(p.address) === undefined) wanted.set(p.address, p.password);
    }
    for (const [address, password] of wanted) {
      const id = keyId(password);
      if ((this.keys.get(address) ?? '') === id) continue;
      this.applyKey(address, password, id);
    }
    for (const address of [...this.keys.keys()]) if (!wanted.has(address)) this.applyKey(address, undefined, '');
  }

  /** A connection came in: give it to its peer's session, or close it. */
  handle(socket: SocketLike): void {
    const from = plainAddress(socket.remoteAddress);
    const local = plainAddress(socket.localAddress);
    const candidates = this.closed ? [] : this.peers.filter((p) => p.address === from);
    const peer = candidates.length > 1 ? candidates.find((p) => p.sourceAddress === local) : candidates[0];
    if (!peer) {
      const reason: RefuseReason = this.closed ? 'listener-closed' : candidates.length > 1 ? 'ambiguous-local-address' : 'not-a-peer';
      const why = this.closed ? 'the listener is closed' : candidates.length > 1 ? `several peers are configured at ${from} and none uses local address ${local}` : 'not a configured peer of this node';
      // Destroyed at once (no NOTIFICATION to flush): a refused connection holds no descriptor.
      socket.destroy();
      this.opts.resources?.refused(reason);
      this.limiter.note(
        reason,
        () => this.opts.log?.warn({ event: 'incomingRefused', peer: from, local, reason }, `refusing a BGP connection from ${from}: ${why}`),
        (n, ms) => this.opts.log?.warn({ event: 'incomingRefused', reason, count: n }, `refused ${n} more BGP connections (${reason}) in the last ${ms / 1000} s`),
      );
      return;
    }
    this.opts.resources?.track(socket);
    this.opts.log?.info({ event: 'incomingAccepted', peer: from, local }, `BGP connection from ${from}`);
    peer.accept(socket);
  }

  /** Stops listening; accepted connections stay with their sessions. */
  close(): Promise<void> {
    this.closed = true;
    this.limiter.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private applyKey(address: string, password: string | Buffer | undefined, id: string): void {
    if (!this.keyed) {
      if (password !== undefined) this.opts.log?.error({ event: 'listenKeyError', peer: address }, `${address} has a password but TCP MD5 is not available here: it cannot connect in`);
      return;
    }
    try {
      (this.opts.setKey ?? ((s, a, p) => setListenKey(s as net.Server, a, p)))(this.server, address, password);
      if (id) this.keys.set(address, id);
      else this.keys.delete(address);
    } catch (e) {
      const err = e as Error & { code?: string };
      this.opts.log?.error({ event: 'listenKeyError', peer: address, code: err.code }, `cannot ${password === undefined ? 'remove' : 'set'} the TCP MD5 key of ${address} on the listening socket: ${err.message}`);
    }
  }
}

/** A `--bgp-listen` value that is not [ADDRESS][:PORT]. */
export class ListenAddressError extends Error {
  override readonly name = 'ListenAddressError';
}

export interface ListenAddress {
  /** Numeric address; undefined = all addresses. */
  address?: string;
  port: number;
}

/**
 * "" (flag alone) | ADDRESS | ADDRESS:PORT | [IPV6]:PORT | :PORT -> where to listen. A bare IPv6
 * address takes no port (use brackets for one).
 */
export function parseListenAddress(text: string): ListenAddress {
  const t = text.trim();
  const bad = (why: string): never => {
    throw new ListenAddressError(`expected [ADDRESS][:PORT] (e.g. 192.0.2.10:179, [2001:db8::10]:179, :1179), got ${JSON.stringify(text)}: ${why}`);
  };
  let host = t;
  let portText: string | undefined;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(t);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
    if (!isIP(host, 6)) bad('the bracketed part is not an IPv6 address');
  } else if (!isIP(t, 6)) {
    const i = t.lastIndexOf(':');
    if (i >= 0) {
      host = t.slice(0, i);
      portText = t.slice(i + 1);
    }
  }
  if (host !== '' && !isIP(host, 4) && !isIP(host, 6)) bad(`${JSON.stringify(host)} is not a numeric IPv4 or IPv6 address`);
  let port = BGP_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) bad(`${JSON.stringify(portText)} is not a port (0..65535)`);
    port = Number(portText);
  }
  return host === '' ? { port } : { address: host, port };
}

function isIP(text: string, family: 4 | 6): boolean {
  return family === 4 ? net.isIPv4(text) : net.isIPv6(text);
}

/**
 * Opens a listener at `where`; all addresses means `::` (IPv4 peers too, v4-mapped), or
 * 0.0.0.0 on a kernel without IPv6.
 */
export async function openListener(where: ListenAddress, opts: Omit<BgpListenerOptions, 'address' | 'port'>): Promise<BgpListener> {
  if (where.address !== undefined) return BgpListener.open({ ...opts, address: where.address, port: where.port });
  try {
    return await BgpListener.open({ ...opts, address: '::', port: where.port });
  } catch (e) {
    if ((e as { code?: string }).code !== 'EAFNOSUPPORT' && (e as { code?: string }).code !== 'EADDRNOTAVAIL') throw e;
    return BgpListener.open({ ...opts, address: '0.0.0.0', port: where.port });
  }
}
