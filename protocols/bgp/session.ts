// One BGP session to one router: connection handling, the FSM (fsm.ts), timers on an injected
// clock, OPEN negotiation, collision resolution, and the Adj-RIB-Out flushed as packed UPDATEs.
// No sockets are created here: deps.connect() supplies a net.Socket-like object.
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../clock.js';
import { AdjRibOut, NO_ATTRIBUTES, type RibDeltaSink, type RouteAttributes } from './adj-rib-out.js';
import { Afi, Safi } from './capabilities.js';
import { Origin, type CodecContext, type MpReach, type PathAttributes } from './attributes.js';
import { BgpError, CeaseSubcode, ErrorCode } from './errors.js';
import { backoffDelayMs, expectedIn, fsmErrorSubcode, nextState, type FsmEvent, type SessionState } from './fsm.js';
import { checkHeader, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH } from './header.js';
import { LogLimiter } from './log-limiter.js';
import { decode, MessageReader, toBuffer, type BgpMessage } from './message.js';
import type { Ipv6NextHop } from './ipv6-next-hop.js';
import { isIbgp, localOpen, negotiate, routerIdFromName, type Negotiated, type PeerAs } from './negotiation.js';
import { shutdownCommunication, shutdownReason, type NotificationMessage } from './notification.js';
import type { OpenMessage } from './open.js';
import { isLinkLocalV6, parseIPv4, parseIPv6, Prefix, type AddressFamily } from './prefix.js';
import type { BgpResources } from './resources.js';
import { endOfRib, type UpdateMessage } from './update.js';
import { compileAttributes, UpdateEncoder, type CompiledAttributes } from './update-encoder.js';

export type { SessionState } from './fsm.js';
export type { RouteAttributes } from './adj-rib-out.js';

/** The surface of net.Socket the session uses (a net.Socket satisfies it). */
export interface SocketLike {
  write(data: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'connect' | 'close' | 'drain', listener: () => void): unknown;
  /** Bytes written and not yet taken by the kernel (net.Socket has it); absent = 0. */
  readonly writableLength?: number;
  readonly remoteAddress?: string | undefined;
  readonly localAddress?: string | undefined;
}

export interface BgpSessionConfig {
  localAs: number;
  /** A number, or 'internal' / 'external' (dynamic ASN): the peer's AS is then learned from its OPEN. */
  peerAs: PeerAs;
  peerAddress: string;
  /** Default 179. Used by the connect function; kept here for logs. */
  peerPort?: number;
  /** Local address the transport binds to; also the IPv4 router ID default. */
  sourceAddress?: string;
  /** Dotted quad. Default: the IPv4 source/local address, else a stable hash of nodeName. */
  routerId?: string;
  /** Name hashed into a router ID when no IPv4 address is available (e.g. the node name). */
  nodeName?: string;
  /** Seconds; 0 (no keepalives, no hold timer) or >= 3. Default 90. */
  holdTime?: number;
  /** Seconds; default holdTime / 3 (never more). */
  keepaliveTime?: number;
  /**
   * Back-off between failed attempts and sessions (RFC 4271 IdleHoldTimer, §8.1.1 damping), in ms:
   * doubling from minMs (1000) to maxMs (120000), jittered; reset once a session has stayed
   * Established for stableMs (60000). While it runs, the peer's incoming connections are refused.
   */
  connectRetry?: { minMs?: number; maxMs?: number; stableMs?: number };
  /**
   * Cap on bytes written to the socket and not yet taken by the peer (default 32 MiB): beyond it
   * the session is torn down with Cease/Out of Resources (RFC 4486 subcode 8).
   */
  maxQueuedBytes?: number;
  /** How long a closed connection may wait for the peer's FIN before it is destroyed (default 1500 ms). */
  closeGraceMs?: number;
  /** Give up an outgoing connection attempt that has not connected after this long (default 30000). */
  connectTimeoutMs?: number;
  /** RFC 4724: advertise graceful restart with this restart time (s); restarting sets the R bit. */
  gracefulRestart?: { restartTime: number; restarting?: boolean };
  /** Unicast families offered (default IPv4 and IPv6 on one session); routes of another family are never sent here. */
  families?: AddressFamily[];
  /** Window in ms over which announce()/withdraw() calls are batched. Default 5. */
  coalesceMs?: number;
  /** Never connect; wait for acceptIncoming(). */
  passive?: boolean;
  /** Offer RFC 8654 extended messages (65535-byte UPDATEs). */
  extendedMessages?: boolean;
  /** Our IPv6 link-local address towards the router, added as second next hop for IPv6 routes. */
  nextHopLinkLocal?: string;
  /**
   * Offer RFC 8950 Extended Next Hop: over an IPv6 session without an IPv4 next hop (unnumbered),
   * IPv4 routes then go in MP_REACH_NLRI AFI 1 with our IPv6 next hop(s) and are withdrawn in
   * MP_UNREACH_NLRI.
   */
  extendedNextHop?: boolean;
  /** Transport concerns (TTL, TCP MD5): the session only carries them for the connect function. */
  ebgpMultihop?: boolean;
  password?: string;
}

export interface SessionLogEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  event: string;
  msg: string;
  [field: string]: unknown;
}

/** A pino-style logger (pino's Logger fits). */
export interface SessionLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SessionDeps {
  clock: Clock;
  /** Start an outgoing TCP connection; the session waits for its 'connect' event. */
  connect: () => SocketLike;
  /** Structured log sink: a function receiving events, or a pino-style logger. */
  log?: ((event: SessionLogEvent) => void) | SessionLogger;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /**
   * IPv6 routes over an IPv4 session: the global IPv6 address of the interface carrying the
   * session's local IPv4 address (protocols/bgp/ipv6-next-hop.ts), used as their next hop when no
   * other global IPv6 next hop is given. Without it such routes are refused (logged).
   */
  ipv6NextHop?: (localIpv4: string) => Ipv6NextHop;
  /** Counters shared with the listener and other sessions (sockets, refusals, destroys). */
  resources?: BgpResources;
  /** Rate limit for repeated log lines (default: one per kind per minute, on deps.clock). */
  logLimiter?: LogLimiter;
}

export interface NotificationEvent {
  direction: 'sent' | 'received';
  code: number;
  subcode: number;
  data: Buffer;
  /** RFC 8203 shutdown communication, when present. */
  reason?: string;
}

export interface BgpSessionEvents {
  state: [from: SessionState, to: SessionState, reason: string];
  established: [negotiated: Negotiated];
  notification: [notification: NotificationEvent];
  error: [error: Error];
}

/** Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes). */
const OPEN_HOLD_MS = 240_000;
/** How long stop() waits for the socket to close after end() before destroying it. */
const CLOSE_WAIT_MS = 2_000;
/** Default grace for a NOTIFICATION to flush and the peer to close, before we destroy the socket. */
const CLOSE_GRACE_MS = 1_500;
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
const STABLE_MS = 60_000;
/** Output chunk UPDATEs are encoded into; slices of it are handed to socket.write. */
const OUTPUT_CHUNK = 4 * MAX_EXTENDED_MESSAGE_LENGTH;
/**
 * A big flush is written in slices of about this size as it is encoded, so the router starts
 * reading (on its own CPU) while we encode the rest, instead of after the whole table.
 */
const WRITE_BATCH = 32 * 1024;
/** Batches up to this size are copied out of the output chunk rather than replacing it. */
const SMALL_WRITE = 16 * 1024;

class Connection {
  readonly reader = new MessageReader();
  peerOpen: OpenMessage | undefined;
  keepaliveSeen = false;
  /** We are done with it (closing or closed): its events are ignored. */
  closed = false;
  /** The socket emitted 'close': its descriptor is gone. */
  socketClosed = false;
  graceTimer: TimerHandle | undefined;
  constructor(
    readonly socket: SocketLike,
    readonly direction: 'outgoing' | 'incoming',
  ) {}
}

function stripMapped(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class BgpSession extends EventEmitter<BgpSessionEvents> {
  private _state: SessionState = 'Idle';
  private readonly config: BgpSessionConfig;
  private readonly deps: SessionDeps;
  private readonly rib = new AdjRibOut();
  private readonly encoder = new UpdateEncoder();
  private compiled = new Map<string, CompiledAttributes | null>();
  /** The last refusal reported per family: a refusal is logged once per change, not per connection or attribute class. */
  private readonly refusals = new Map<AddressFamily, string>();
  private conn: Connection | undefined;
  private candidate: Connection | undefined;
  private started = false;
  private stopped = false;
  private failures = 0;
  /** Failed sessions (TCP was up) since the last stable one: what damping remembers across Established. */
  private flaps = 0;
  /** Until then (clock ms) the peer's incoming connections are refused: the back-off runs. */
  private holdOffUntil = 0;
  private readonly limiter: LogLimiter;
  /** Families asked for by ROUTE-REFRESH, answered once the socket has taken what it was given. */
  private readonly refreshPending = new Set<AddressFamily>();
  /** A flush waits for the socket's 'drain'. */
  private flushOnDrain = false;
  private endOfRibPending = false;
  private localRouterId = 0;
  private ourOpen: OpenMessage | undefined;
  private negotiated: Negotiated | undefined;
  private ctx: CodecContext = { fourByteAs: true, maxMessageLength: MAX_MESSAGE_LENGTH };
  private holdTimer: TimerHandle | undefined;
  private keepaliveTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private flushTimer: TimerHandle | undefined;
  private stableTimer: TimerHandle | undefined;
  private out: Buffer = Buffer.allocUnsafe(OUTPUT_CHUNK);
  private outOffset = 0;
  /** Start of the bytes in `out` not yet handed to the socket (before it: owned by the socket). */
  private outStart = 0;

  constructor(config: BgpSessionConfig, deps: SessionDeps) {
    super();
    const hold = config.holdTime ?? 90;
    if (hold !== 0 && (hold < 3 || hold > 65535)) throw new RangeError(`holdTime: must be 0 or 3..65535, got ${hold}`);
    if (config.routerId !== undefined) parseIPv4(config.routerId);
    this.config = config;
    this.deps = deps;
    this.limiter = deps.logLimiter ?? new LogLimiter(deps.clock);
  }

  /** Bytes written to the current connection and not yet taken by the peer's TCP stack. */
  get queuedBytes(): number {
    const c = this.conn;
    return c && !c.socketClosed ? (c.socket.writableLength ?? 0) : 0;
  }

  get state(): SessionState {
    return this._state;
  }

  /** What was negotiated with the peer on the current connection (undefined before OpenConfirm). */
  get negotiation(): Negotiated | undefined {
    return this.negotiated;
  }

  /** Routes currently desired (announced and not withdrawn). */
  get routeCount(): number {
    return this.rib.size;
  }

  // ------------------------------------------------------------ public API

  start(): void {
    if (this.started && !this.stopped) return;
    this.started = true;
    this.stopped = false;
    this.failures = 0;
    this.flaps = 0;
    this.holdOffUntil = 0;
    if (this.config.passive) this.fire('ManualStartPassive', 'start (passive)');
    else {
      this.fire('ManualStart', 'start');
      this.connectOut();
    }
  }

  /** Desire prefix ("203.0.113.10/32", a bare address, or a parsed Prefix) with attrs. */
  announce(prefix: Prefix | string, attrs: RouteAttributes = NO_ATTRIBUTES): void {
    this.rib.set(prefix, attrs);
    this.scheduleFlush();
  }

  withdraw(prefix: Prefix | string): void {
    if (this.rib.delete(prefix)) this.scheduleFlush();
  }

  /**
   * Stop: send pending changes (e.g. withdrawals), then Cease/Administrative Shutdown with the
   * reason (RFC 8203) and close. With gracefulRestart the connection is closed without
   * NOTIFICATION, so a router in graceful-restart helper mode keeps our routes for restartTime.
   * With drop the connection is dropped the same way (no flush, no NOTIFICATION): the path is
   * known dead (BFD down), as FRR's bgpd does on a BFD down.
   */
  async stop(reason = 'administrative shutdown', opts: { gracefulRestart?: boolean; drop?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.clearTimer('retryTimer');
    const c = this.conn;
    const silent = opts.gracefulRestart === true || opts.drop === true;
    if (c && this._state === 'Established' && !silent) this.flush();
    if (this.candidate) this.closeConnection(this.candidate, this.cease(CeaseSubcode.AdministrativeShutdown, reason));
    this.candidate = undefined;
    const talking = this._state === 'OpenSent' || this._state === 'OpenConfirm' || this._state === 'Established';
    this.conn = undefined;
    this.clearSessionTimers();
    this.fire('ManualStop', reason);
    this.limiter.close();
    if (!c || c.closed) return;
    const closed = new Promise<void>((resolve) => {
      c.socket.on('close', () => resolve());
      const t = this.deps.clock.setTimeout(() => {
        c.socket.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      c.socket.on('close', () => this.deps.clock.clearTimeout(t));
    });
    // A half-open connect attempt or a graceful-restart stop is simply dropped; a live session ends cleanly.
    const notify = talking && !silent;
    this.closeConnection(c, notify ? this.cease(CeaseSubcode.AdministrativeShutdown, reason) : undefined, notify);
    await closed;
  }

  /**
   * Hand over a connection the router opened to us (passive mode, or a collision with our own
   * connection, resolved per RFC 4271 §6.8).
   */
  acceptIncoming(socket: SocketLike): void {
    const c = new Connection(socket, 'incoming');
    this.attach(c);
    if (!this.started || this.stopped) {
      this.refuse(c, 'stopped', 'incoming connection while stopped');
      return;
    }
    const wait = this.holdOffUntil - this.deps.clock.now();
    if (wait > 0 && (this._state === 'Idle' || this._state === 'Connect' || this._state === 'Active')) {
      // RFC 4271 §8.1.1 damping: a peer whose sessions keep failing cannot skip the back-off by connecting in.
      this.refuse(c, 'back-off', `incoming connection during the back-off after a failed session (${Math.ceil(wait)} ms left)`);
      return;
    }
    switch (this._state) {
      case 'Idle':
      case 'Connect':
      case 'Active': {
        // No BGP conversation yet: drop our own attempt and talk on the router's connection.
        this.clearTimer('retryTimer');
        const old = this.conn;
        this.conn = undefined;
        if (old) this.closeConnection(old, undefined);
        this.conn = c;
        this.fire('TcpConnectionAccepted', 'incoming connection');
        this.sendOpen(c);
        this.startHold(OPEN_HOLD_MS);
        return;
      }
      case 'OpenSent':
      case 'OpenConfirm':
        if (this.candidate) {
          this.closeConnection(c, this.cease(CeaseSubcode.ConnectionCollisionResolution, ''));
          return;
        }
        this.candidate = c;
        this.sendOpen(c);
        if (this.conn?.peerOpen) this.resolveCollision(this.conn.peerOpen.bgpIdentifier);
        return;
      case 'Established':
        this.log('info', 'collision', 'incoming connection while established: closing it');
        this.closeConnection(c, this.cease(CeaseSubcode.ConnectionCollisionResolution, ''));
        return;
    }
  }

  // ------------------------------------------------------------ FSM plumbing

  private fire(event: FsmEvent, reason: string): void {
    const from = this._state;
    const to = nextState(from, event);
    if (to === undefined) throw new Error(`BGP FSM: event ${event} is not valid in state ${from}`);
    this._state = to;
    if (to !== from) {
      this.log('info', 'state', `${from} -> ${to}: ${reason}`, { from, to, reason });
      this.emit('state', from, to, reason);
    }
  }

  private log(level: SessionLogEvent['level'], event: string, msg: string, fields: Record<string, unknown> = {}): void {
    const log = this.deps.log;
    if (log === undefined) return;
    if (typeof log === 'function') log({ level, event, msg, peer: this.config.peerAddress, ...fields });
    else log[level]({ event, peer: this.config.peerAddress, ...fields }, msg);
  }

  private reportError(err: Error): void {
    this.log('error', 'error', err.message);
    // An 'error' event without a listener would throw; the log already has it.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Close an incoming connection at once with Cease/Connection Rejected; counted, logged at a limited rate. */
  private refuse(c: Connection, reason: 'stopped' | 'back-off', msg: string): void {
    this.deps.resources?.refused(reason);
    this.limiter.note(
      `incoming-rejected:${reason}`,
      () => this.log('info', 'incoming-rejected', msg, { reason }),
      (n, ms) => this.log('info', 'incoming-rejected', `${n} more incoming connections refused (${reason}) in the last ${ms / 1000} s`, { reason, count: n }),
    );
    this.closeConnection(c, this.cease(CeaseSubcode.ConnectionRejected, ''), true, false);
  }

  private clearTimer(name: 'holdTimer' | 'keepaliveTimer' | 'retryTimer' | 'flushTimer' | 'stableTimer'): void {
    const t = this[name];
    if (t !== undefined) this.deps.clock.clearTimeout(t);
    this[name] = undefined;
  }

  private clearSessionTimers(): void {
    this.clearTimer('holdTimer');
    this.clearTimer('keepaliveTimer');
    this.clearTimer('flushTimer');
    this.clearTimer('stableTimer');
    this.refreshPending.clear();
    this.flushOnDrain = false;
    this.endOfRibPending = false;
  }

  /**
   * The next back-off delay. After a failed session (the TCP connection was up), the peer's
   * incoming connections are refused for as long; a connect attempt that never got through does not
   * hold off a router that connects in.
   */
  private nextDelay(sessionFailed: boolean): number {
    const delay = backoffDelayMs(this.failures, (this.deps.random ?? Math.random)(), this.config.connectRetry?.minMs, this.config.connectRetry?.maxMs);
    this.failures++;
    if (sessionFailed) {
      this.flaps++;
      this.holdOffUntil = this.deps.clock.now() + delay;
    }
    return delay;
  }

  /** After an error in Idle: start again once the back-off delay has passed. */
  private scheduleRestart(): void {
    if (this.stopped) return;
    const delay = this.nextDelay(true);
    this.log('info', 'restart-scheduled', `reconnecting in ${delay} ms`, { delayMs: delay });
    this.clearTimer('retryTimer');
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.config.passive) this.fire('AutomaticStartPassive', 'automatic restart (passive)');
      else {
        this.fire('AutomaticStart', 'automatic restart');
        this.connectOut();
      }
    }, delay);
  }

  /** In Active after a failed connection: retry once the back-off delay has passed. */
  private scheduleConnectRetry(sessionFailed: boolean): void {
    if (this.stopped) return;
    const delay = this.nextDelay(sessionFailed);
    if (this.config.passive) {
      this.log('info', 'hold-off', `refusing the peer's connections for ${delay} ms`, { delayMs: delay });
      return;
    }
    this.log('info', 'connect-retry-scheduled', `connecting again in ${delay} ms`, { delayMs: delay });
    this.clearTimer('retryTimer');
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.fire('ConnectRetryTimerExpires', 'connect retry timer');
      this.connectOut();
    }, delay);
  }

  // ------------------------------------------------------------ connections

  private connectOut(): void {
    let socket: SocketLike;
    try {
      socket = this.deps.connect();
    } catch (e) {
      this.log('warn', 'connect-failed', `connect: ${(e as Error).message}`);
      this.fire('TcpConnectionFails', `connect failed: ${(e as Error).message}`);
      this.scheduleConnectRetry(false);
      return;
    }
    const c = new Connection(socket, 'outgoing');
    this.conn = c;
    this.attach(c);
    if (c.closed) return;
    // A SYN that is never answered (e.g. a TCP-MD5 mismatch, a firewall) must not hang us in Connect.
    this.holdTimer = this.deps.clock.setTimeout(() => {
      this.holdTimer = undefined;
      if (c !== this.conn || c.closed) return;
      this.log('warn', 'connect-timeout', `no TCP connection after ${this.config.connectTimeoutMs ?? 30_000} ms`);
      this.onClosed(c, 'connect timed out');
    }, this.config.connectTimeoutMs ?? 30_000);
    socket.on('connect', () => {
      if (c !== this.conn || c.closed || this._state !== 'Connect') return;
      this.clearTimer('holdTimer');
      this.fire('TcpConnectionConfirmed', 'TCP connected');
      this.sendOpen(c);
      this.startHold(OPEN_HOLD_MS);
    });
  }

  private attach(c: Connection): void {
    this.deps.resources?.track(c.socket);
    c.socket.on('data', (chunk) => this.onData(c, chunk));
    c.socket.on('error', (err) => {
      // Not rate-limited: one per connection attempt, and attempts are spaced by the back-off.
      if (!c.closed) this.log('warn', 'socket-error', `socket: ${err.message}`, { direction: c.direction });
      this.onClosed(c, `socket error: ${err.message}`);
    });
    c.socket.on('close', () => {
      c.socketClosed = true;
      if (c.graceTimer !== undefined) this.deps.clock.clearTimeout(c.graceTimer);
      c.graceTimer = undefined;
      this.onClosed(c, 'connection closed');
    });
    c.socket.on('drain', () => this.onDrain(c));
  }

  /**
   * Close c, first sending a NOTIFICATION if given. Marks it closed so its events are ignored.
   * A graceful close ends our side and gives the peer closeGraceMs to flush and close its side;
   * then the socket is destroyed, so a peer that keeps its end open cannot hold our descriptor.
   */
  private closeConnection(c: Connection, notification: NotificationMessage | undefined, graceful = true, logged = true): void {
    if (c.closed) return;
    c.closed = true;
    if (notification && !c.socketClosed) {
      c.socket.write(toBuffer(notification));
      this.emit('notification', { direction: 'sent', code: notification.code, subcode: notification.subcode, data: notification.data, ...reasonOf(notification) });
      if (logged) this.log('warn', 'notification-sent', `sent NOTIFICATION ${notification.code}/${notification.subcode}`, { code: notification.code, subcode: notification.subcode });
    }
    if (c.socketClosed) return;
    if (!graceful) {
      c.socket.destroy();
      return;
    }
    c.socket.end();
    if (c.socketClosed || c.graceTimer !== undefined) return;
    c.graceTimer = this.deps.clock.setTimeout(() => {
      c.graceTimer = undefined;
      if (c.socketClosed) return;
      this.deps.resources?.destroyed();
      this.limiter.note(
        'connection-destroyed',
        () => this.log('info', 'connection-destroyed', `the peer did not close within ${this.closeGraceMs} ms: connection destroyed`, { direction: c.direction }),
        (n, ms) => this.log('info', 'connection-destroyed', `${n} more connections destroyed after the close grace in the last ${ms / 1000} s`, { count: n }),
      );
      c.socket.destroy();
    }, this.closeGraceMs);
  }

  private get closeGraceMs(): number {
    return this.config.closeGraceMs ?? CLOSE_GRACE_MS;
  }

  private cease(subcode: number, reason: string): NotificationMessage {
    const data = subcode === CeaseSubcode.AdministrativeShutdown || subcode === CeaseSubcode.AdministrativeReset ? shutdownCommunication(reason) : Buffer.alloc(0);
    return { type: 'notification', code: ErrorCode.Cease, subcode, data };
  }

  private write(c: Connection, data: Buffer): void {
    if (c.closed || c.socketClosed) return;
    c.socket.write(data);
    const queued = c.socket.writableLength ?? 0;
    const cap = this.config.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    if (queued > cap) this.outOfResources(c, queued, cap);
  }

  /**
   * The peer does not take what we send and the queue passed the cap: Cease/Out of Resources
   * (RFC 4486), the socket destroyed at once (what it holds could never be flushed), back-off.
   */
  private outOfResources(c: Connection, queued: number, cap: number): void {
    this.deps.resources?.outOfResources(this.config.peerAddress);
    this.log('warn', 'out-of-resources', `${queued} bytes queued for the peer (cap ${cap}): closing with Cease/Out of Resources`, { queuedBytes: queued, capBytes: cap });
    this.closeConnection(c, this.cease(CeaseSubcode.OutOfResources, ''), false);
    if (c === this.candidate) {
      this.candidate = undefined;
      return;
    }
    if (c !== this.conn) return;
    this.conn = undefined;
    this.clearSessionTimers();
    this.fire('ResourceLimit', 'queued bytes over the cap');
    if (this.candidate) this.promoteCandidate();
    else this.scheduleRestart();
  }

  /** The socket took everything it held: send what waited for it (coalesced changes, refreshes). */
  private onDrain(c: Connection): void {
    if (c !== this.conn || c.closed || !this.flushOnDrain) return;
    this.flushOnDrain = false;
    this.flush();
  }

  /** The connection went away (peer closed, reset, or connect failed). */
  private onClosed(c: Connection, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    c.socket.destroy();
    if (c === this.candidate) {
      this.candidate = undefined;
      return;
    }
    if (c !== this.conn) return;
    this.conn = undefined;
    this.clearSessionTimers();
    const state = this._state;
    this.fire('TcpConnectionFails', reason);
    if (this.candidate) {
      // The other connection of a collision survives: carry on with it.
      this.promoteCandidate();
      return;
    }
    if (state === 'Connect') this.scheduleConnectRetry(false);
    else if (state === 'OpenSent') this.scheduleConnectRetry(true);
    else this.scheduleRestart();
  }

  private onData(c: Connection, chunk: Buffer): void {
    if (c.closed) return;
    c.reader.push(chunk);
    while (!c.closed) {
      let bytes: Buffer | undefined;
      let msg: BgpMessage;
      try {
        bytes = c.reader.next();
        if (!bytes) return;
        // RFC 6608: a message of a type not expected in this state is an FSM error, even when its body is malformed.
        const state = c === this.candidate ? (c.peerOpen ? 'OpenConfirm' : 'OpenSent') : this._state;
        const { type } = checkHeader(bytes, 0, c.reader.maxMessageLength);
        if (!expectedIn(state, type)) {
          this.protocolError(c, new BgpError(ErrorCode.FsmError, fsmErrorSubcode(state), `unexpected message type ${type} in ${state}`));
          return;
        }
        msg = decode(bytes, 0, this.ctx);
      } catch (e) {
        if (e instanceof BgpError) this.protocolError(c, e);
        else this.protocolError(c, new BgpError(ErrorCode.MessageHeader, 0, `undecodable message: ${(e as Error).message}`));
        return;
      }
      if (c === this.candidate) this.onCandidateMessage(c, msg);
      else if (c === this.conn) this.onMessage(c, msg);
    }
  }

  /** Send the NOTIFICATION for err on c, close it, and (for the main connection) go Idle and restart. */
  private protocolError(c: Connection, err: BgpError): void {
    this.log('warn', 'protocol-error', err.message, { code: err.code, subcode: err.subcode });
    this.closeConnection(c, { type: 'notification', code: err.code, subcode: err.subcode, data: err.data });
    if (c === this.candidate) {
      this.candidate = undefined;
      return;
    }
    if (c !== this.conn) return;
    this.conn = undefined;
    this.clearSessionTimers();
    this.fire('ProtocolError', err.message);
    if (this.candidate) this.promoteCandidate();
    else this.scheduleRestart();
  }

  private unexpected(c: Connection, msg: BgpMessage): void {
    this.protocolError(c, new BgpError(ErrorCode.FsmError, fsmErrorSubcode(this._state), `unexpected ${msg.type.toUpperCase()} in ${this._state}`));
  }

  private onMessage(c: Connection, msg: BgpMessage): void {
    if (this._state === 'OpenConfirm' || this._state === 'Established') this.restartHold();
    switch (msg.type) {
      case 'notification':
        this.onNotification(c, msg);
        return;
      case 'open':
        if (this._state !== 'OpenSent') return this.unexpected(c, msg);
        c.peerOpen = msg;
        if (this.candidate) {
          this.resolveCollision(msg.bgpIdentifier);
          if (c !== this.conn) return;
        }
        this.acceptOpen(c, msg);
        return;
      case 'keepalive':
        if (this._state === 'OpenConfirm') {
          this.fire('KeepAliveMsg', 'KEEPALIVE received');
          this.onEstablished();
        } else if (this._state !== 'Established') this.unexpected(c, msg);
        return;
      case 'update':
        if (this._state !== 'Established') return this.unexpected(c, msg);
        // We do not use the router's routes; they are validated (above) and dropped.
        if (msg.malformed) this.logMalformed(msg);
        return;
      case 'route-refresh': {
        if (this._state !== 'Established') return this.unexpected(c, msg);
        const family: AddressFamily | undefined = msg.safi !== Safi.Unicast ? undefined : msg.afi === Afi.IPv4 ? 'ipv4' : msg.afi === Afi.IPv6 ? 'ipv6' : undefined;
        if (msg.subtype !== 0 || family === undefined || !this.negotiated?.families.includes(family)) return;
        // Answered once what the socket holds is flushed; requests meanwhile are one (coalesced).
        if (this.refreshPending.has(family)) return;
        this.refreshPending.add(family);
        this.limiter.note(
          'route-refresh',
          () => this.log('info', 'route-refresh', `ROUTE-REFRESH for ${family}: re-sending ${family} routes`),
          (n, ms) => this.log('info', 'route-refresh', `${n} more ROUTE-REFRESH requests answered or coalesced in the last ${ms / 1000} s`, { count: n }),
        );
        this.flush();
        return;
      }
    }
  }

  /** RFC 7606: what was handled as withdraw or discarded, with the attribute type; rate-limited. */
  private logMalformed(msg: UpdateMessage): void {
    for (const m of msg.malformed ?? []) {
      const attr = m.attrType ?? 'unknown';
      this.limiter.note(
        `malformed:${m.action}:${attr}`,
        () => this.log('warn', `update-${m.action}`, `UPDATE from the peer: ${m.action} for attribute type ${attr} (RFC 7606): ${m.error.message}`, { action: m.action, attributeType: attr }),
        (n, ms) => this.log('warn', `update-${m.action}`, `${n} more UPDATEs with ${m.action} for attribute type ${attr} in the last ${ms / 1000} s`, { action: m.action, attributeType: attr, count: n }),
      );
    }
  }

  private onNotification(c: Connection, n: NotificationMessage): void {
    const reason = shutdownReason(n);
    this.log('warn', 'notification-received', `received NOTIFICATION ${n.code}/${n.subcode}${reason ? `: ${reason}` : ''}`, { code: n.code, subcode: n.subcode });
    this.emit('notification', { direction: 'received', code: n.code, subcode: n.subcode, data: n.data, ...(reason !== undefined ? { reason } : {}) });
    this.closeConnection(c, undefined);
    if (c === this.candidate) {
      this.candidate = undefined;
      return;
    }
    this.conn = undefined;
    this.clearSessionTimers();
    this.fire('NotifMsg', `NOTIFICATION ${n.code}/${n.subcode} received`);
    if (this.candidate) this.promoteCandidate();
    else this.scheduleRestart();
  }

  private onCandidateMessage(c: Connection, msg: BgpMessage): void {
    switch (msg.type) {
      case 'open':
        c.peerOpen = msg;
        try {
          this.check(msg);
        } catch (e) {
          if (e instanceof BgpError) return this.protocolError(c, e);
          throw e;
        }
        this.resolveCollision(msg.bgpIdentifier);
        return;
      case 'keepalive':
        c.keepaliveSeen = true;
        return;
      case 'notification':
        this.onNotification(c, msg);
        return;
      default:
        this.protocolError(c, new BgpError(ErrorCode.FsmError, fsmErrorSubcode('OpenSent'), `unexpected ${msg.type.toUpperCase()} before OPEN`));
    }
  }

  /** RFC 4271 §6.8: keep the connection opened by the side with the higher BGP Identifier. */
  private resolveCollision(remoteId: number): void {
    const primary = this.conn;
    const other = this.candidate;
    if (!primary || !other) return;
    let loser: Connection;
    if (primary.direction === other.direction) loser = other;
    else {
      const keepIncoming = this.localRouterId >>> 0 < remoteId >>> 0;
      loser = (primary.direction === 'incoming') === keepIncoming ? other : primary;
    }
    this.log('info', 'collision', `connection collision: closing the ${loser.direction} connection`, { localRouterId: this.localRouterId, remoteId });
    this.closeConnection(loser, this.cease(CeaseSubcode.ConnectionCollisionResolution, ''));
    this.candidate = undefined;
    if (loser === primary) {
      this.conn = other;
      this.clearSessionTimers();
      this.fire('CollisionLost', 'collision resolved in favour of the other connection');
      this.continueOn(other);
    }
  }

  /** The main connection died while a collision candidate lives: adopt it. */
  private promoteCandidate(): void {
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    this.conn = c;
    this.fire('TcpConnectionAccepted', 'continuing on the other connection');
    this.continueOn(c);
  }

  /** Continue the handshake on c (its OPEN sent) from OpenSent, replaying what it already received. */
  private continueOn(c: Connection): void {
    this.startHold(OPEN_HOLD_MS);
    if (!c.peerOpen) return;
    this.acceptOpen(c, c.peerOpen);
    if (c === this.conn && !c.closed && c.keepaliveSeen && this._state === 'OpenConfirm') {
      this.fire('KeepAliveMsg', 'KEEPALIVE received');
      this.onEstablished();
    }
  }

  // ------------------------------------------------------------ OPEN and timers

  private resolveRouterId(c: Connection): number {
    if (this.config.routerId !== undefined) return parseIPv4(this.config.routerId);
    for (const a of [this.config.sourceAddress, stripMapped(c.socket.localAddress)]) {
      if (a !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(a)) return parseIPv4(a);
    }
    return routerIdFromName(this.config.nodeName ?? `herald-${this.config.localAs}`);
  }

  private sendOpen(c: Connection): void {
    this.localRouterId = this.resolveRouterId(c);
    this.ourOpen = localOpen({
      localAs: this.config.localAs,
      holdTime: this.config.holdTime ?? 90,
      routerId: this.localRouterId,
      extendedMessages: this.config.extendedMessages,
      extendedNextHop: this.config.extendedNextHop,
      gracefulRestartTime: this.config.gracefulRestart?.restartTime,
      restarting: this.config.gracefulRestart?.restarting,
      families: this.config.families,
    });
    this.write(c, toBuffer(this.ourOpen));
  }

  private check(peer: OpenMessage): Negotiated {
    return negotiate(peer, {
      localAs: this.config.localAs,
      peerAs: this.config.peerAs,
      localRouterId: this.localRouterId,
      holdTime: this.config.holdTime ?? 90,
      keepaliveTime: this.config.keepaliveTime,
      ours: this.ourOpen ?? localOpen({ localAs: this.config.localAs, holdTime: this.config.holdTime ?? 90, routerId: this.localRouterId }),
    });
  }

  private acceptOpen(c: Connection, peer: OpenMessage): void {
    let n: Negotiated;
    try {
      n = this.check(peer);
    } catch (e) {
      if (e instanceof BgpError) return this.protocolError(c, e);
      throw e;
    }
    this.negotiated = n;
    this.ctx = { fourByteAs: n.fourByteAs, maxMessageLength: n.extendedMessages ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH };
    c.reader.maxMessageLength = this.ctx.maxMessageLength;
    this.encoder.maxMessageLength = this.ctx.maxMessageLength;
    this.compiled = new Map();
    this.write(c, toBuffer({ type: 'keepalive' }));
    if (typeof this.config.peerAs !== 'number') {
      this.log('info', 'peer-as-learned', `peer AS ${n.peerAs} learned from its OPEN (dynamic ASN ${this.config.peerAs})`, { peerAs: n.peerAs, dynamicAsn: this.config.peerAs });
    }
    this.fire('BgpOpen', `OPEN from AS ${n.peerAs} (${n.peerRouterId}), hold ${n.holdTime} s`);
    if (n.holdTime > 0) this.startHold(n.holdTime * 1000);
    else this.clearTimer('holdTimer');
    this.startKeepalives();
  }

  private startHold(ms: number): void {
    this.clearTimer('holdTimer');
    this.holdTimer = this.deps.clock.setTimeout(() => this.onHoldExpired(), ms);
  }

  private restartHold(): void {
    const n = this.negotiated;
    if (n && n.holdTime > 0) this.startHold(n.holdTime * 1000);
  }

  private onHoldExpired(): void {
    this.holdTimer = undefined;
    const c = this.conn;
    if (!c) return;
    this.log('warn', 'hold-timer-expired', 'hold timer expired: the router went silent');
    this.closeConnection(c, { type: 'notification', code: ErrorCode.HoldTimerExpired, subcode: 0, data: Buffer.alloc(0) });
    this.conn = undefined;
    this.clearSessionTimers();
    this.fire('HoldTimerExpires', 'hold timer expired');
    if (this.candidate) this.promoteCandidate();
    else this.scheduleRestart();
  }

  private startKeepalives(): void {
    this.clearTimer('keepaliveTimer');
    const ms = this.negotiated?.keepaliveMs ?? 0;
    if (ms <= 0) return;
    const tick = (): void => {
      const c = this.conn;
      if (!c || c.closed) return;
      this.write(c, toBuffer({ type: 'keepalive' }));
      this.keepaliveTimer = this.deps.clock.setTimeout(tick, ms);
    };
    this.keepaliveTimer = this.deps.clock.setTimeout(tick, ms);
  }

  // ------------------------------------------------------------ routes

  private onEstablished(): void {
    // Damping (RFC 4271 §8.1.1): failed connect attempts are forgotten now, failed sessions only
    // once this one has proved stable.
    this.failures = this.flaps;
    this.clearTimer('stableTimer');
    this.stableTimer = this.deps.clock.setTimeout(() => {
      this.stableTimer = undefined;
      this.failures = 0;
      this.flaps = 0;
    }, this.config.connectRetry?.stableMs ?? STABLE_MS);
    const n = this.negotiated;
    if (!n) return;
    this.rib.resend();
    this.endOfRibPending = true;
    this.flush();
    // A family left out on purpose (families, MetalLB's disableMP) is not a router's refusal.
    const unsent = (this.config.families ?? (['ipv4', 'ipv6'] as const)).filter((f) => !n.families.includes(f)).reduce((sum, f) => sum + this.rib.count(f), 0);
    if (unsent > 0) this.log('warn', 'family-not-negotiated', `${unsent} routes of a family the router did not negotiate stay unannounced`, { families: n.families });
    this.emit('established', n);
  }

  private scheduleFlush(): void {
    if (this._state !== 'Established' || this.flushTimer !== undefined) return;
    this.flushTimer = this.deps.clock.setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.config.coalesceMs ?? 5);
  }

  /** The path attributes of one class for this session (eBGP/iBGP, next-hop defaults), or null with a logged reason. */
  private compile(family: AddressFamily, classKey: string, attrs: RouteAttributes): CompiledAttributes | null {
    const key = `${family}|${classKey}`;
    const cached = this.compiled.get(key);
    if (cached !== undefined) return cached;
    let result: CompiledAttributes | null = null;
    try {
      result = compileAttributes(this.pathAttributes(family, attrs), family, this.ctx);
      this.refusals.delete(family);
    } catch (e) {
      const msg = `cannot announce ${family} routes: ${(e as Error).message}`;
      if (this.refusals.get(family) !== msg) {
        this.refusals.set(family, msg);
        this.reportError(new Error(msg));
      }
    }
    this.compiled.set(key, result);
    return result;
  }

  private pathAttributes(family: AddressFamily, attrs: RouteAttributes): PathAttributes {
    const ibgp = isIbgp(this.config.localAs, this.config.peerAs);
    const pa: PathAttributes = { origin: Origin.Igp, asPath: ibgp ? [] : [{ type: 2, asns: [this.config.localAs] }] };
    if (attrs.med !== undefined) pa.med = attrs.med;
    if (ibgp) pa.localPref = attrs.localPref ?? 100;
    if (attrs.communities?.length) pa.communities = attrs.communities;
    if (attrs.largeCommunities?.length) pa.largeCommunities = attrs.largeCommunities;
    // A link-local address may carry its zone (fe80::1%eth0): next hops are bare addresses.
    const local = stripMapped(this.conn?.socket.localAddress)?.split('%')[0];
    const candidates = [attrs.nextHop, local, this.config.sourceAddress];
    if (family === 'ipv4') {
      const nh = candidates.find((a) => a !== undefined && !a.includes(':'));
      if (nh === undefined && this.negotiated?.extendedNextHop) {
        pa.mpReach = this.ipv4ViaIpv6NextHop(candidates, local);
        return pa;
      }
      if (nh === undefined) throw new Error('no IPv4 next hop: the session is not over IPv4, no nextHop was given and the router did not negotiate Extended Next Hop (RFC 8950)');
      parseIPv4(nh);
      pa.nextHop = nh;
    } else {
      let nh = candidates.find((a) => a !== undefined && a.includes(':') && !isLinkLocalV6(parseIPv6(a)));
      if (nh === undefined && local !== undefined && !local.includes(':') && this.deps.ipv6NextHop) {
        // MP-BGP over IPv4: the global IPv6 address of the interface carrying the session (as FRR).
        const found = this.deps.ipv6NextHop(local);
        nh = found.address;
        if (nh === undefined) {
          const where = found.interface === undefined ? `no interface holds the session's address ${local}` : `interface ${found.interface} (carrying the session from ${local}) has no global IPv6 address`;
          throw new Error(`no global IPv6 next hop for IPv6 routes over this IPv4 session: ${where}`);
        }
      }
      if (nh === undefined) throw new Error('no global IPv6 next hop: the session is not over global IPv6 and no nextHop was given');
      const linkLocal = attrs.nextHopLinkLocal ?? this.config.nextHopLinkLocal ?? (local?.includes(':') && isLinkLocalV6(parseIPv6(local.split('%')[0])) ? local.split('%')[0] : undefined);
      pa.mpReach = { afi: Afi.IPv6, safi: Safi.Unicast, nextHop: nh, nlri: [] };
      if (linkLocal !== undefined) pa.mpReach.nextHopLinkLocal = linkLocal;
    }
    return pa;
  }

  /**
   * RFC 8950 next hop of IPv4 routes over an IPv6 session: our global IPv6 address (given, the
   * session's own, or the one on the interface of our link-local address) and our link-local one
   * (32 octets with both, else 16 octets with either).
   */
  private ipv4ViaIpv6NextHop(candidates: ReadonlyArray<string | undefined>, local: string | undefined): MpReach {
    const v6 = candidates.filter((a): a is string => a !== undefined && a.includes(':')).map((a) => a.split('%')[0]);
    let global = v6.find((a) => !isLinkLocalV6(parseIPv6(a)));
    const linkLocal = v6.find((a) => isLinkLocalV6(parseIPv6(a)));
    if (global === undefined && local !== undefined && linkLocal !== undefined && this.deps.ipv6NextHop) global = this.deps.ipv6NextHop(local).address;
    const nextHop = global ?? linkLocal;
    if (nextHop === undefined) throw new Error('no IPv6 next hop for IPv4 routes over Extended Next Hop: the session is not over IPv6 and no nextHop was given');
    const mp: MpReach = { afi: Afi.IPv4, safi: Safi.Unicast, nextHop, nlri: [] };
    if (global !== undefined && linkLocal !== undefined) mp.nextHopLinkLocal = linkLocal;
    return mp;
  }

  /** IPv4 routes ride in MP_REACH/MP_UNREACH (RFC 8950): negotiated, and the session has no IPv4 address of ours. */
  private ipv4ViaMp(): boolean {
    if (!this.negotiated?.extendedNextHop) return false;
    return ![stripMapped(this.conn?.socket.localAddress), this.config.sourceAddress].some((a) => a !== undefined && !a.includes(':'));
  }

  /** Send every pending RIB change as packed UPDATEs (withdrawals first). */
  private flush(): void {
    this.clearTimer('flushTimer');
    const c = this.conn;
    const n = this.negotiated;
    if (!c || c.closed || this._state !== 'Established' || !n) return;
    // Back-pressure: while the socket still holds earlier output, changes wait (and coalesce) in the RIB.
    if ((c.socket.writableLength ?? 0) > 0) {
      this.flushOnDrain = true;
      return;
    }
    for (const f of this.refreshPending) this.rib.resend(f);
    this.refreshPending.clear();
    // Streams from the RIB's scratch arrays into the output chunk: no per-route objects.
    this.rib.drain(n.families, this.ribSink);
    this.sendOut(c);
    // End-of-RIB follows the first full table, even when that waited for the socket.
    if (this.endOfRibPending) {
      this.endOfRibPending = false;
      for (const f of n.families) this.write(c, toBuffer(endOfRib(f), this.ctx));
    }
  }

  /** Where drain() hands the delta: encodes it into the output chunk. */
  private readonly ribSink: RibDeltaSink = {
    withdrawV4: (addresses, lengths, start, end) => {
      // The encoder withdraws from Prefix objects; withdrawals are rare and built here only.
      const list = this.withdrawScratch;
      list.length = 0;
      for (let i = start; i < end; i++) list.push(Prefix.v4(addresses[i], lengths === undefined ? 32 : lengths[i]));
      this.encodeWithdraw('ipv4', list, 0, list.length);
      list.length = 0;
    },
    withdrawV6: (prefixes, start, end) => this.encodeWithdraw('ipv6', prefixes, start, end),
    announceV4: (classKey, attrs, addresses, lengths, start, end) => {
      const compiled = this.compile('ipv4', classKey, attrs);
      if (!compiled) return;
      let i = start;
      while (i < end) {
        this.ensureRoom();
        this.outOffset += this.encoder.encodeAnnounceV4(compiled, addresses, lengths, i, end, this.window(), this.outOffset);
        i = this.encoder.next;
      }
    },
    announceV6: (classKey, attrs, prefixes, start, end) => {
      const compiled = this.compile('ipv6', classKey, attrs);
      if (!compiled) return;
      let i = start;
      while (i < end) {
        this.ensureRoom();
        this.outOffset += this.encoder.encodeAnnounce(compiled, prefixes, i, end, this.window(), this.outOffset);
        i = this.encoder.next;
      }
    },
  };

  private readonly withdrawScratch: Prefix[] = [];

  private encodeWithdraw(family: AddressFamily, prefixes: readonly Prefix[], start: number, end: number): void {
    const mp = family === 'ipv6' || this.ipv4ViaMp();
    let i = start;
    while (i < end) {
      this.ensureRoom();
      this.outOffset += this.encoder.encodeWithdraw(family, prefixes, i, end, this.window(), this.outOffset, mp);
      i = this.encoder.next;
    }
  }

  /**
   * Before encoding more: write out a full batch, and make sure the output chunk has room for a
   * largest-size message.
   */
  private ensureRoom(): void {
    const max = this.ctx.maxMessageLength;
    const c = this.conn;
    if (c && this.outOffset > this.outStart && this.outOffset - this.outStart + max > WRITE_BATCH) this.sendOut(c);
    if (this.out.length - this.outOffset >= max) return;
    if (c) this.sendOut(c);
    this.out = Buffer.allocUnsafe(OUTPUT_CHUNK);
    this.outStart = 0;
    this.outOffset = 0;
  }

  /** The part of the output chunk the encoder may fill now (it stops at the view's end). */
  private window(): Buffer {
    const end = Math.min(this.out.length, Math.max(this.outStart + WRITE_BATCH, this.outOffset + this.ctx.maxMessageLength));
    return end === this.out.length ? this.out : this.out.subarray(0, end);
  }

  private sendOut(c: Connection): void {
    if (this.outOffset === this.outStart) return;
    // The socket keeps what it is given until it is flushed, so that part of the chunk is never
    // written again: a small batch at the chunk's start is copied out and the chunk reused;
    // otherwise the slice is handed over and encoding continues after it.
    if (this.outStart === 0 && this.outOffset <= SMALL_WRITE) {
      this.write(c, Buffer.from(this.out.subarray(0, this.outOffset)));
      this.outOffset = 0;
    } else {
      this.write(c, this.out.subarray(this.outStart, this.outOffset));
      this.outStart = this.outOffset;
    }
  }
}

function reasonOf(n: NotificationMessage): { reason?: string } {
  const r = shutdownReason(n);
  return r === undefined ? {} : { reason: r };
}
