// `herald bgp announce`: one BGP session to one router, announcing the given prefixes until
// SIGTERM/SIGINT (then withdraw everything, send Cease, exit 0). Logs every state change as JSON
// lines. Usable without Kubernetes; the lab and the end-to-end benchmark drive it.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino, type Logger } from 'pino';
import type { LargeCommunity } from '../protocols/bgp/attributes.js';
import { isLinkLocalV6, parseIPv6, parsePrefix, PrefixError, type Prefix } from '../protocols/bgp/prefix.js';
import { checkInterfaceName, followRouter, unnumberedPeerAddress, type RouterLinkHandle } from '../protocols/bgp/unnumbered.js';
import { startRouterLink } from '../protocols/ndp/router-link.js';
import { BgpListener } from '../protocols/bgp/listener.js';
import { ipv6NextHopFor } from '../protocols/bgp/ipv6-next-hop.js';
import { connect as tcpConnect, sessionTtl, tcpMd5Support, TransportError } from '../protocols/bgp/transport.js';
import { systemClock } from '../protocols/clock.js';
import type { PeerAs } from '../protocols/bgp/negotiation.js';
import { countUpdates } from '../speaker/bgp-announcer.js';
import { BgpSession, type BgpSessionConfig, type RouteAttributes, type SocketLike } from '../protocols/bgp/session.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function uint(flag: string, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`${flag}: expected an integer 0..${max}, got ${JSON.stringify(text)}`);
    return n;
  };
}

function address(flag: string) {
  return (text: string): string => {
    if (net.isIP(text) === 0) throw new InvalidArgumentError(`${flag}: expected a numeric IPv4 or IPv6 address, got ${JSON.stringify(text)}`);
    return text;
  };
}

function asNumber(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < 1 || n > 0xffffffff) throw new InvalidArgumentError(`${flag}: expected an AS number 1..4294967295, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** An AS number, or `internal` / `external`: a dynamic peer AS learned from the router's OPEN. */
function peerAsRule(flag: string) {
  const number = asNumber(flag);
  return (text: string): PeerAs => {
    if (text === 'internal' || text === 'external') return text;
    try {
      return number(text);
    } catch {
      throw new InvalidArgumentError(`${flag}: expected an AS number 1..4294967295, internal or external, got ${JSON.stringify(text)}`);
    }
  };
}

/** "65000:100" -> the 32-bit community value. */
export function parseCommunity(text: string): number {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new InvalidArgumentError(`--community: expected a:b with 16-bit numbers, got ${JSON.stringify(text)}`);
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

/** "1:2:3" -> a large community (RFC 8092). */
export function parseLargeCommunity(text: string): LargeCommunity {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text.trim());
  if (!m || m.slice(1).some((x) => Number(x) > 0xffffffff)) throw new InvalidArgumentError(`--large-community: expected a:b:c with 32-bit numbers, got ${JSON.stringify(text)}`);
  return { globalAdmin: Number(m[1]), localData1: Number(m[2]), localData2: Number(m[3]) };
}

/** Prefixes from a file: one per line; blank lines and `#` comments ignored. Errors name the line. */
export function readPrefixFile(path: string): Prefix[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`--prefix-file: cannot read ${path}: ${(e as Error).message}`);
  }
  const out: Prefix[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, '').trim();
    if (!line) continue;
    try {
      out.push(parsePrefix(line));
    } catch (e) {
      throw new InvalidArgumentError(`--prefix-file ${path}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return out;
}

interface AnnounceOpts {
  localAs: number;
  peerAddress?: string;
  interface?: string;
  peerAs: PeerAs;
  peerPort: number;
  extendedMessages: boolean;
  sourceAddress?: string;
  routerId?: string;
  holdTime: number;
  keepaliveTime?: number;
  passwordFile?: string;
  ebgpMultihop?: boolean;
  nextHop?: string;
  community?: number[];
  largeCommunity?: LargeCommunity[];
  localPref?: number;
  med?: number;
  prefix?: string[];
  prefixFile?: string[];
  gracefulRestart?: number;
  passive?: boolean;
  connectTimeout: number;
  logLevel: string;
}

export function register(program: Command): void {
  const bgp = program.commands.find((c) => c.name() === 'bgp') ?? program.command('bgp').description('BGP announcements');
  bgp
    .command('announce')
    .description('keep one BGP session and announce the prefixes until stopped (SIGTERM/SIGINT: withdraw, Cease, exit 0)')
    .requiredOption('--local-as <n>', 'our AS number', asNumber('--local-as'))
    .option('--peer-address <address>', "the router's address (or, with --interface, its link-local address, when it is not to be learned)", address('--peer-address'))
    .option('--interface <ifname>', 'unnumbered (RFC 8950): peer with the router on this interface over IPv6 link-local, its address learned from its Router Advertisements (we send ours); IPv4 routes go with our IPv6 next hop')
    .requiredOption('--peer-as <n>', "the router's AS number (same as --local-as: iBGP), or internal / external: learned from its OPEN, which must carry our AS / another AS", peerAsRule('--peer-as'))
    .option('--no-extended-messages', 'do not offer RFC 8654 extended messages (UPDATEs up to 65535 bytes when the router offers them too)')
    .addOption(new Option('--peer-port <port>', "the router's TCP port").default(179).argParser(uint('--peer-port', 65535)))
    .option('--source-address <address>', 'local address to connect from', address('--source-address'))
    .option('--router-id <address>', 'BGP identifier (default: the source IPv4 address, else derived from the host name)', address('--router-id'))
    .addOption(new Option('--hold-time <seconds>', 'hold time to offer (0 or >= 3)').default(90).argParser(uint('--hold-time', 65535)))
    .option('--keepalive-time <seconds>', 'keepalive interval (default: a third of the negotiated hold time)', uint('--keepalive-time', 65535))
    .option('--password-file <file>', 'TCP MD5 (RFC 2385) password, read from this file (trailing newline ignored)')
    .option('--ebgp-multihop', 'the eBGP peer is not directly connected: send with TTL 255 instead of 1')
    .option('--next-hop <address>', 'next hop to announce (default: our address on the session)', address('--next-hop'))
    .option('--community <a:b>', 'community (RFC 1997) on every route; repeat for more', (v: string, prev: number[] = []) => [...prev, parseCommunity(v)])
    .option('--large-community <a:b:c>', 'large community (RFC 8092) on every route; repeat for more', (v: string, prev: LargeCommunity[] = []) => [...prev, parseLargeCommunity(v)])
    .option('--local-pref <n>', 'LOCAL_PREF (iBGP only)', uint('--local-pref', 0xffffffff))
    .option('--med <n>', 'MULTI_EXIT_DISC', uint('--med', 0xffffffff))
    .option('--prefix <prefix>', 'prefix to announce (a bare address is a /32 or /128); repeat for more', collect)
    .option('--prefix-file <file>', 'file with one prefix per line; repeat for more', collect)
    .option('--graceful-restart <seconds>', 'advertise graceful restart (RFC 4724) with this restart time', uint('--graceful-restart', 4095))
    .option('--passive', 'do not connect: listen on port --peer-port (at --source-address, else everywhere) and wait for the router')
    .addOption(new Option('--connect-timeout <seconds>', 'give up a TCP connect attempt after this long').default(5).argParser(uint('--connect-timeout', 3600)))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action((opts: AnnounceOpts, cmd: Command) => {
      run(opts, cmd);
    });
}

function run(opts: AnnounceOpts, cmd: Command): void {
  const fail = (msg: string): never => cmd.error(msg, { exitCode: 2 });
  let prefixes: Prefix[] = [];
  try {
    for (const p of opts.prefix ?? []) prefixes.push(parsePrefix(p));
    for (const f of opts.prefixFile ?? []) prefixes = prefixes.concat(readPrefixFile(f));
  } catch (e) {
    if (e instanceof PrefixError) fail(`--prefix: ${e.message}`);
    if (e instanceof InvalidArgumentError) fail(e.message);
    throw e;
  }
  let password: string | undefined;
  if (opts.passwordFile !== undefined) {
    try {
      password = readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      fail(`--password-file: cannot read ${opts.passwordFile}: ${(e as Error).message}`);
    }
    if (!password) fail(`--password-file: ${opts.passwordFile} is empty`);
    const md5 = tcpMd5Support();
    if (!md5.ok) fail(`--password-file: TCP MD5 is not available: ${md5.reason}`);
  }
  if (opts.holdTime !== 0 && opts.holdTime < 3) fail(`--hold-time: must be 0 or >= 3, got ${opts.holdTime}`);
  const ifname = opts.interface;
  if (ifname === undefined && opts.peerAddress === undefined) fail('one of --peer-address and --interface is required');
  if (ifname !== undefined) {
    const bad = checkInterfaceName(ifname);
    if (bad) fail(`--interface: ${bad}`);
    if (opts.peerAddress !== undefined && !(net.isIPv6(opts.peerAddress) && isLinkLocalV6(parseIPv6(opts.peerAddress.split('%')[0])))) {
      fail(`--peer-address: with --interface it is the router's IPv6 link-local address, got ${opts.peerAddress}`);
    }
    if (opts.passive) fail('--passive: not with --interface (the router link connects both ways)');
  }
  const family = opts.peerAddress === undefined ? 6 : net.isIP(opts.peerAddress);
  if (opts.sourceAddress !== undefined && net.isIP(opts.sourceAddress) !== family) fail(`--source-address: ${opts.sourceAddress} is not of the peer address's family`);
  const communities = opts.community ?? [];
  const largeCommunities = opts.largeCommunity ?? [];

  const rootLog = pino({ level: opts.logLevel, base: { cmd: 'bgp-announce', pid: process.pid } });
  // The session adds `peer` to its own lines; ours carry it too.
  const log = rootLog.child({ peer: opts.peerAddress ?? ifname });
  const connectTimeoutMs = opts.connectTimeout * 1000;
  // eBGP: TTL 1 (the peer is on the link) unless multihop; iBGP: the system default.
  let ttl = sessionTtl(opts.localAs, opts.peerAs, opts.ebgpMultihop === true);
  const socketOptions = tcpMd5Support();
  if (ttl !== undefined && !socketOptions.ok) {
    log.warn({ event: 'ttl-unavailable' }, `cannot set the eBGP TTL, using the system default: ${socketOptions.reason}`);
    ttl = undefined;
  }

  // Our connect: the transport (with TCP-MD5 when configured) plus a connect timeout. A router
  // with a different MD5 key drops our SYNs silently, so a timeout is all we ever see: say so.
  const connectTo = (peerAddress: string, log: Logger) => (): net.Socket => {
    let socket: net.Socket;
    try {
      socket = tcpConnect({ peerAddress, peerPort: opts.peerPort, sourceAddress: opts.sourceAddress, password, ttl });
    } catch (e) {
      const err = e as TransportError;
      log.error({ event: 'connect-error', code: err.code, field: err.field }, `cannot connect: ${err.message}`);
      throw e;
    }
    const timer = setTimeout(() => {
      const hint = password !== undefined ? ' (TCP MD5 is on: a password mismatch looks exactly like this, the router drops unsigned or wrongly signed SYNs)' : '';
      log.warn({ event: 'connect-timeout', timeoutMs: connectTimeoutMs, md5: password !== undefined }, `no answer from ${peerAddress}:${opts.peerPort} within ${opts.connectTimeout} s${hint}`);
      socket.destroy(Object.assign(new Error(`connect timed out after ${opts.connectTimeout} s`), { code: 'ETIMEDOUT' }));
    }, connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      log.info({ event: 'connected', local: `${socket.localAddress}:${socket.localPort}`, md5: password !== undefined }, 'TCP connected');
    });
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ETIMEDOUT') log.warn({ event: 'connect-error', code: e.code }, `connection to ${peerAddress}:${opts.peerPort} failed: ${e.message}`);
    });
    // UPDATE messages on the wire, for the 'established' line (prefixes per UPDATE in the benchmark).
    return countUpdates(socket, (n) => (updatesSent += n));
  };
  let updatesSent = 0;

  const attrs: RouteAttributes = {};
  if (opts.nextHop !== undefined) attrs.nextHop = opts.nextHop;
  if (opts.localPref !== undefined) attrs.localPref = opts.localPref;
  if (opts.med !== undefined) attrs.med = opts.med;
  if (communities.length) attrs.communities = communities;
  if (largeCommunities.length) attrs.largeCommunities = largeCommunities;

  /** One session to the router at peerAddress, announcing every prefix. */
  const startSession = (peerAddress: string): BgpSession => {
    const config: BgpSessionConfig = {
      localAs: opts.localAs,
      peerAs: opts.peerAs,
      peerAddress,
      peerPort: opts.peerPort,
      holdTime: opts.holdTime,
      extendedMessages: opts.extendedMessages,
    };
    if (ifname !== undefined) config.extendedNextHop = true;
    if (opts.sourceAddress !== undefined) config.sourceAddress = opts.sourceAddress;
    if (opts.routerId !== undefined) config.routerId = opts.routerId;
    if (opts.keepaliveTime !== undefined) config.keepaliveTime = opts.keepaliveTime;
    if (opts.ebgpMultihop) config.ebgpMultihop = true;
    if (password !== undefined) config.password = password;
    if (opts.gracefulRestart !== undefined) config.gracefulRestart = { restartTime: opts.gracefulRestart };
    if (opts.passive) config.passive = true;
    const sessionLog = ifname === undefined ? log : rootLog.child({ peer: peerAddress });
    // IPv6 prefixes over an IPv4 session (and IPv4 ones over an unnumbered one) go with the
    // session interface's global IPv6 address as next hop.
    const session = new BgpSession(config, { clock: systemClock, connect: connectTo(peerAddress, sessionLog), log: sessionLog, ipv6NextHop: (local) => ipv6NextHopFor(local) });
    // Emitted once the whole table and End-of-RIB are handed to the socket: updatesSent counts them.
    session.on('established', (n) =>
      sessionLog.info(
        { event: 'established', prefixes: prefixes.length, peerAs: n.peerAs, holdTime: n.holdTime, families: n.families, fourByteAs: n.fourByteAs, extendedMessages: n.extendedMessages, extendedNextHop: n.extendedNextHop, updatesSent },
        `session established with AS ${n.peerAs}: announcing ${prefixes.length} prefixes`,
      ),
    );
    for (const p of prefixes) session.announce(p, attrs);
    if (opts.passive) listenForRouter(opts, peerAddress, password, ttl, session, sessionLog);
    session.start();
    return session;
  };

  log.info({ event: 'start', prefixes: prefixes.length, md5: password !== undefined, ttl: ttl ?? 'default', holdTime: opts.holdTime, passive: opts.passive === true, interface: ifname }, 'starting');
  let session: BgpSession | undefined;
  let routerLink: RouterLinkHandle | undefined;
  if (ifname !== undefined && opts.peerAddress === undefined) {
    // Unnumbered: the router's address comes from its Router Advertisements; a new address or a
    // lost router restarts this session only.
    routerLink = followRouter(
      ifname,
      startRouterLink,
      (peerAddress) => {
        log.info({ event: 'router', interface: ifname, router: peerAddress ?? null }, peerAddress ? `router on ${ifname}: ${peerAddress}` : `no router on ${ifname} now`);
        const old = session;
        session = undefined;
        if (old) void old.stop(peerAddress ? 'router address changed' : 'router gone', { drop: true });
        if (peerAddress !== undefined) session = startSession(peerAddress);
      },
      log,
    );
  } else {
    const peerAddress = opts.peerAddress as string;
    session = startSession(ifname === undefined ? peerAddress : unnumberedPeerAddress(peerAddress, ifname));
  }
  // The session's timers do not hold the process open (a library must not); the command must,
  // or it would exit while waiting to reconnect. process.exit() ends it.
  setInterval(() => undefined, 1 << 30);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'shutdown', signal }, `${signal}: withdrawing ${prefixes.length} prefixes and closing`);
    routerLink?.close();
    const s = session;
    if (s) for (const p of prefixes) s.withdraw(p);
    (s ? s.stop(`herald bgp announce: ${signal}`) : Promise.resolve())
      .then(() => {
        log.info({ event: 'exit' }, 'stopped');
        log.flush();
        process.exit(0);
      })
      .catch((e: unknown) => {
        log.error({ event: 'exit', err: e }, 'stop failed');
        log.flush();
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Passive mode: the router connects in; connections from anyone else are closed at once. */
function listenForRouter(opts: AnnounceOpts, peerAddress: string, password: string | undefined, ttl: number | undefined, session: BgpSession, log: Logger): void {
  const address = opts.sourceAddress ?? (net.isIPv6(peerAddress) ? '::' : '0.0.0.0');
  const peer = { address: peerAddress, accept: (socket: SocketLike) => session.acceptIncoming(socket), ...(password !== undefined ? { password } : {}) };
  BgpListener.open({ address, port: opts.peerPort, peers: [peer], log, ...(ttl !== undefined ? { ttl } : {}) }).then(
    () => log.info({ event: 'listening', address, port: opts.peerPort }, `waiting for ${peerAddress} to connect`),
    (e: unknown) => {
      const err = e as TransportError;
      log.error({ event: 'listen-error', code: err.code }, `cannot listen on ${address}:${opts.peerPort}: ${err.message}`);
      log.flush();
      process.exit(1);
    },
  );
}
