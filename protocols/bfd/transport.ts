// BFD over UDP: RFC 5881 single hop (port 3784, TTL 255 sent and required on receipt, GTSM) and
// RFC 5883 multihop (port 4784, received TTL at least a configured minimum). One endpoint per
// address family: a receive socket on the well-known port and a send socket on a source port from
// 49152-65535 shared by its sessions. Received packets go to a session by Your Discriminator, or
// by source (and destination) address when it is zero; anything else is dropped and counted.
// Only configured peers get sessions, so a stranger can make us hold nothing but counters.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { parseIPv4, parseIPv6 } from '../bgp/prefix.js';
import { systemClock, type Clock } from '../clock.js';
import { loadBfdUdpAddon, RING_META, RING_SLOT, type BfdSocketHandle, type BfdUdpAddon } from './addon.js';
import { BfdError, type BfdErrorCode } from './errors.js';
import { decode } from './packet.js';
import { BfdSession, type BfdStateChange, type BfdTimers } from './session.js';

export const SINGLE_HOP_PORT = 3784;
export const MULTIHOP_PORT = 4784;
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_MAX = 65535;
/** MetalLB's bfd-profile minimum-ttl default for multihop sessions. */
export const DEFAULT_MULTIHOP_MIN_TTL = 254;

const RING_SLOTS = 64;
const LOG_EVERY_MS = 10_000;

/** Why a received datagram was dropped before or by a session. */
export type DropReason =
  | BfdErrorCode
  | 'ttl' // GTSM: single hop TTL not 255, multihop TTL below the minimum
  | 'oversize' // longer than any valid control packet
  | 'unknown-source' // Your Discriminator zero and no session for the source address
  | 'unknown-discriminator' // no session has that Your Discriminator
  | 'source-mismatch' // the discriminator's session belongs to another peer
  | 'auth' // A bit set: no authentication is configured
  | 'discriminator';

/** A pino-style logger (pino's Logger fits). */
export interface BfdLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface BfdPeer extends BfdTimers {
  peerAddress: string;
  /** Our address toward the peer: the packets' source, and the destination a packet must have when several sessions share a peer. */
  localAddress?: string;
  passive?: boolean;
}

export interface BfdEndpointOptions {
  family: 4 | 6;
  /** Receive only on this address (default: every address of the family). */
  localAddress?: string;
  multihop?: boolean;
  /** Multihop only: the lowest TTL accepted (default 254). Single hop always requires 255. */
  minTtl?: number;
  /** Receive port (default 3784, or 4784 multihop); tests use others. */
  port?: number;
  /** Destination port of our packets (default: the receive port). */
  peerPort?: number;
  /** Sessions this endpoint accepts at most (default 4096). */
  maxSessions?: number;
  clock?: Clock;
  random?: () => number;
  log?: BfdLogger;
  onStateChange?: (peer: BfdPeer, change: BfdStateChange) => void;
  /** Called after each packet sent (benchmarks time the intervals with it). */
  onTransmit?: (peer: BfdPeer, session: BfdSession) => void;
}

/** A socket-level failure; `code` is the errno name (EADDRINUSE, EPERM...) or ENOADDON. */
export class BfdTransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BfdTransportError';
    this.code = code;
  }
}

interface Entry {
  peer: BfdPeer;
  session: BfdSession;
  /** Source address bytes as a latin1 string: the demultiplexing key. */
  peerKey: string;
}

export class BfdEndpoint {
  readonly family: 4 | 6;
  readonly port: number;
  readonly multihop: boolean;
  private readonly addon: BfdUdpAddon;
  private readonly rx: BfdSocketHandle;
  private readonly tx: BfdSocketHandle;
  private readonly ring = Buffer.alloc(RING_SLOTS * (RING_SLOT + RING_META));
  private readonly meta: Uint32Array;
  private readonly opts: BfdEndpointOptions;
  private readonly clock: Clock;
  private readonly minTtl: number;
  private readonly peerPort: number;
  private readonly addrLen: number;
  private readonly byDiscriminator = new Map<number, Entry>();
  /** `${source}|${destination}` and `${source}|` (any destination) -> session. */
  private readonly byAddress = new Map<string, Entry>();
  private readonly lastLog = new Map<string, { at: number; suppressed: number }>();
  private closed = false;

  readonly counters = { rxPackets: 0, txPackets: 0, txErrors: 0, dropped: {} as Partial<Record<DropReason, number>> };

  private constructor(opts: BfdEndpointOptions, addon: BfdUdpAddon) {
    this.opts = opts;
    this.addon = addon;
    this.family = opts.family;
    this.multihop = opts.multihop === true;
    this.clock = opts.clock ?? systemClock;
    this.minTtl = this.multihop ? (opts.minTtl ?? DEFAULT_MULTIHOP_MIN_TTL) : 255;
    this.addrLen = opts.family === 4 ? 4 : 16;
    const port = opts.port ?? (this.multihop ? MULTIHOP_PORT : SINGLE_HOP_PORT);
    this.peerPort = opts.peerPort ?? port;
    this.meta = new Uint32Array(this.ring.buffer, this.ring.byteOffset + RING_SLOTS * RING_SLOT, (RING_SLOTS * RING_META) / 4);
    const local = opts.localAddress ?? '';
    try {
      this.rx = addon.open(opts.family, local, port, port, this.ring, (count, err) => this.onPackets(count, err));
    } catch (e) {
      throw wrap(e, `cannot receive on ${local || 'any address'} port ${port}`);
    }
    try {
      this.tx = addon.open(opts.family, local, SOURCE_PORT_MIN, SOURCE_PORT_MAX, null, null);
    } catch (e) {
      addon.close(this.rx);
      throw wrap(e, `cannot bind a source port in ${SOURCE_PORT_MIN}-${SOURCE_PORT_MAX}`);
    }
    this.port = addon.localPort(this.rx);
  }

  /** Opens the sockets; throws BfdTransportError (EADDRINUSE, EADDRNOTAVAIL, ENOADDON...). */
  static open(opts: BfdEndpointOptions): BfdEndpoint {
    if (opts.minTtl !== undefined && (!Number.isInteger(opts.minTtl) || opts.minTtl < 1 || opts.minTtl > 255)) {
      throw new BfdTransportError('EINVAL', `minTtl ${opts.minTtl} outside 1..255`);
    }
    if (opts.localAddress !== undefined && net.isIP(opts.localAddress) !== opts.family) {
      throw new BfdTransportError('EINVAL', `local address ${opts.localAddress} is not an IPv${opts.family} address`);
    }
    const addon = loadBfdUdpAddon();
    if (addon instanceof Error) throw new BfdTransportError('ENOADDON', addon.message);
    return new BfdEndpoint(opts, addon);
  }

  /** Our source port (49152-65535). */
  get sourcePort(): number {
    return this.addon.localPort(this.tx);
  }

  /** Adds and starts a session to a configured peer. Throws on a duplicate, a wrong family or past maxSessions. */
  addPeer(peer: BfdPeer): BfdSession {
    if (this.closed) throw new BfdTransportError('EBADF', 'endpoint is closed');
    const dst = this.addressBytes(peer.peerAddress, 'peer address');
    const src = peer.localAddress !== undefined ? this.addressBytes(peer.localAddress, 'local address') : null;
    const peerKey = dst.toString('latin1');
    const key = `${peerKey}|${src ? src.toString('latin1') : ''}`;
    if (this.byAddress.has(key)) throw new BfdTransportError('EEXIST', `a session to ${peer.peerAddress}${peer.localAddress ? ` from ${peer.localAddress}` : ''} exists`);
    const max = this.opts.maxSessions ?? 4096;
    if (this.byDiscriminator.size >= max) throw new BfdTransportError('ENOSPC', `at most ${max} BFD sessions per endpoint`);
    const session = new BfdSession(
      { ...peer, localDiscriminator: this.newDiscriminator() },
      {
        clock: this.clock,
        random: this.opts.random,
        send: (buf, length) => {
          const n = this.addon.send(this.tx, buf, length, dst, this.peerPort, src);
          if (n < 0) {
            this.counters.txErrors++;
            this.rateLimitedLog(`tx:${n}`, { event: 'send-error', errno: -n, peer: peer.peerAddress }, `cannot send to ${peer.peerAddress}`);
          } else {
            this.counters.txPackets++;
            this.opts.onTransmit?.(peer, session);
          }
        },
        onStateChange: (change) => this.opts.onStateChange?.(peer, change),
      },
    );
    const entry: Entry = { peer, session, peerKey };
    this.byDiscriminator.set(session.localDiscriminator, entry);
    this.byAddress.set(key, entry);
    session.start();
    return session;
  }

  /** Stops and forgets a session; with adminDown, first tells the peer (§6.8.16) so it does not report a failure. */
  removePeer(peerAddress: string, localAddress?: string, adminDown = false): boolean {
    const key = `${this.addressBytes(peerAddress, 'peer address').toString('latin1')}|${localAddress !== undefined ? this.addressBytes(localAddress, 'local address').toString('latin1') : ''}`;
    const entry = this.byAddress.get(key);
    if (!entry) return false;
    if (adminDown) entry.session.adminDown();
    entry.session.stop();
    this.byAddress.delete(key);
    this.byDiscriminator.delete(entry.session.localDiscriminator);
    return true;
  }

  sessions(): Array<{ peer: BfdPeer; session: BfdSession }> {
    return [...this.byDiscriminator.values()].map((e) => ({ peer: e.peer, session: e.session }));
  }

  /** Stops every session (AdminDown first when asked) and closes the sockets. Idempotent. */
  close(adminDown = false): void {
    if (this.closed) return;
    for (const e of this.byDiscriminator.values()) {
      if (adminDown) e.session.adminDown();
      e.session.stop();
    }
    this.byDiscriminator.clear();
    this.byAddress.clear();
    this.closed = true;
    this.addon.close(this.rx);
    this.addon.close(this.tx);
  }

  private addressBytes(text: string, what: string): Buffer {
    const family = net.isIP(text);
    if (family !== this.family) throw new BfdTransportError('EINVAL', `${what} ${JSON.stringify(text)} is not an IPv${this.family} address`);
    if (family === 4) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(parseIPv4(text) >>> 0);
      return b;
    }
    return Buffer.from(parseIPv6(text));
  }

  private newDiscriminator(): number {
    for (;;) {
      const d = randomBytes(4).readUInt32BE(0);
      if (d !== 0 && !this.byDiscriminator.has(d)) return d;
    }
  }

  private drop(reason: DropReason, source: () => string, detail?: string): void {
    const d = this.counters.dropped;
    d[reason] = (d[reason] ?? 0) + 1;
    this.rateLimitedLog(`drop:${reason}`, { event: 'drop', reason, source: source() }, `dropped a BFD packet: ${detail ?? reason}`);
  }

  /** At most one line per key every 10 s, saying how many were suppressed meanwhile: a flood cannot flood the log. */
  private rateLimitedLog(key: string, fields: Record<string, unknown>, msg: string): void {
    const log = this.opts.log;
    if (!log) return;
    const now = this.clock.now();
    const last = this.lastLog.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    log.warn({ ...fields, suppressed: last?.suppressed ?? 0 }, msg);
    this.lastLog.set(key, { at: now, suppressed: 0 });
  }

  private onPackets(count: number, err?: Error): void {
    if (err) this.rateLimitedLog('rx-error', { event: 'receive-error', code: (err as NodeJS.ErrnoException).code }, `BFD receive failed: ${err.message}`);
    const ring = this.ring;
    const metaBase = RING_SLOTS * RING_SLOT;
    for (let i = 0; i < count; i++) {
      this.counters.rxPackets++;
      const w = i * (RING_META / 4);
      const length = this.meta[w];
      const ttl = this.meta[w + 1];
      const srcAt = metaBase + i * RING_META + 16;
      const source = (): string => formatAddress(ring, srcAt, this.family);
      if (ttl < this.minTtl || ttl > 255) {
        this.drop('ttl', source, `TTL ${ttl === 0xffffffff ? 'unknown' : ttl}, ${this.multihop ? `minimum ${this.minTtl}` : 'single hop requires 255 (RFC 5881 §5)'}`);
        continue;
      }
      if (length > RING_SLOT) {
        this.drop('oversize', source, `${length} bytes`);
        continue;
      }
      let packet;
      try {
        packet = decode(ring.subarray(i * RING_SLOT, i * RING_SLOT + length), 0);
      } catch (e) {
        if (!(e instanceof BfdError)) throw e;
        this.drop(e.code, source, e.message);
        continue;
      }
      const peerKey = ring.toString('latin1', srcAt, srcAt + this.addrLen);
      let entry: Entry | undefined;
      if (packet.yourDiscriminator !== 0) {
        entry = this.byDiscriminator.get(packet.yourDiscriminator);
        if (!entry) {
          this.drop('unknown-discriminator', source, `Your Discriminator ${packet.yourDiscriminator} is none of ours`);
          continue;
        }
        if (entry.peerKey !== peerKey) {
          this.drop('source-mismatch', source, `Your Discriminator ${packet.yourDiscriminator} belongs to ${entry.peer.peerAddress}`);
          continue;
        }
      } else {
        const dstAt = srcAt + 16;
        entry = this.byAddress.get(`${peerKey}|${ring.toString('latin1', dstAt, dstAt + this.addrLen)}`) ?? this.byAddress.get(`${peerKey}|`);
        if (!entry) {
          this.drop('unknown-source', source, 'no session for this source address');
          continue;
        }
      }
      const why = entry.session.receive(packet);
      if (why !== null) this.drop(why, source);
    }
  }
}

function formatAddress(buf: Buffer, at: number, family: 4 | 6): string {
  if (family === 4) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(buf.readUInt16BE(at + i).toString(16));
  // RFC 5952 short form: the longest run of zero groups becomes "::".
  const text = parts.join(':');
  const runs = text.match(/(?:^|:)0(?::0)+(?::|$)/g);
  if (!runs) return text;
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
  return text.replace(longest, '::');
}

function wrap(e: unknown, what: string): BfdTransportError {
  const err = e as { code?: string; message?: string };
  return new BfdTransportError(err.code ?? 'EUNKNOWN', `${what}: ${err.message ?? String(e)}`);
}

