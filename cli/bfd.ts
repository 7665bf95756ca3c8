// `herald bfd`: BFD sessions (RFC 5880 asynchronous mode; RFC 5881 single hop or RFC 5883
// multihop) to the given peers until SIGTERM/SIGINT (then AdminDown to every peer, exit 0). Logs
// every state change as a JSON line; for operators testing a router, and for the lab and bench.
import net from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { diagName } from '../protocols/bfd/packet.js';
import { BfdEndpoint, BfdTransportError, DEFAULT_MULTIHOP_MIN_TTL, type BfdPeer } from '../protocols/bfd/transport.js';

interface BfdOpts {
  peer: string[];
  local?: string[];
  interval: number;
  receiveInterval?: number;
  multiplier: number;
  multihop?: boolean;
  minTtl: number;
  passive?: boolean;
  statsInterval: number;
  logLevel: string;
}

function intIn(flag: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new InvalidArgumentError(`${flag}: expected an integer ${min}..${max}, got ${JSON.stringify(text)}`);
    return n;
  };
}

function addresses(flag: string) {
  return (text: string, previous: string[] = []): string[] => {
    if (net.isIP(text) === 0) throw new InvalidArgumentError(`${flag}: expected a numeric IPv4 or IPv6 address, got ${JSON.stringify(text)}`);
    return [...previous, text];
  };
}

export function register(program: Command): void {
  program
    .command('bfd')
    .description('run BFD sessions to the given peers and log state changes as JSON lines (SIGTERM/SIGINT: AdminDown, exit 0)')
    .requiredOption('--peer <address>', 'a peer to run a session with; repeat for more', addresses('--peer'))
    .option('--local <address>', 'our address toward the peers (source of our packets, receive address); one per family', addresses('--local'))
    .addOption(new Option('--interval <ms>', 'desired minimum transmit interval').default(300).argParser(intIn('--interval', 10, 60_000)))
    .option('--receive-interval <ms>', 'required minimum receive interval (default: --interval)', intIn('--receive-interval', 10, 60_000))
    .addOption(new Option('--multiplier <n>', 'detect multiplier').default(3).argParser(intIn('--multiplier', 1, 255)))
    .option('--multihop', 'RFC 5883 multihop (port 4784, TTL checked against --min-ttl) instead of RFC 5881 single hop')
    .addOption(new Option('--min-ttl <n>', 'multihop: lowest received TTL accepted').default(DEFAULT_MULTIHOP_MIN_TTL).argParser(intIn('--min-ttl', 1, 255)))
    .option('--passive', 'send nothing to a peer until it has been heard (RFC 5880 §6.1)')
    .addOption(new Option('--stats-interval <seconds>', 'log packet counters this often (0: only at exit)').default(0).argParser(intIn('--stats-interval', 0, 86_400)))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action((opts: BfdOpts, cmd: Command) => run(opts, cmd));
}

function run(opts: BfdOpts, cmd: Command): void {
  const fail = (msg: string): never => cmd.error(msg, { exitCode: 2 });
  const log = pino({ level: opts.logLevel, base: { cmd: 'bfd', pid: process.pid } });
  const locals = new Map<4 | 6, string>();
  for (const l of opts.local ?? []) {
    const f = net.isIP(l) as 4 | 6;
    if (locals.has(f)) fail(`--local: two IPv${f} addresses (${locals.get(f)}, ${l}); give one per family`);
    locals.set(f, l);
  }
  if (new Set(opts.peer).size !== opts.peer.length) fail('--peer: the same peer is given twice');
  const timers = { transmitIntervalMs: opts.interval, receiveIntervalMs: opts.receiveInterval ?? opts.interval, detectMultiplier: opts.multiplier };

  const endpoints: BfdEndpoint[] = [];
  const peersByFamily = new Map<4 | 6, string[]>();
  for (const p of opts.peer) {
    const f = net.isIP(p) as 4 | 6;
    peersByFamily.set(f, [...(peersByFamily.get(f) ?? []), p]);
  }
  for (const [family, peers] of peersByFamily) {
    let ep: BfdEndpoint;
    try {
      ep = BfdEndpoint.open({
        family,
        localAddress: locals.get(family),
        multihop: opts.multihop === true,
        minTtl: opts.multihop ? opts.minTtl : undefined,
        maxSessions: Math.max(4096, peers.length),
        log,
        onStateChange: (peer: BfdPeer, c) => {
          const fields = { event: 'state', peer: peer.peerAddress, from: c.from, to: c.to, diag: diagName(c.diag), remoteDiag: diagName(c.remoteDiag), ...(c.silentMs !== undefined ? { silentMs: Math.round(c.silentMs), detectTimeMs: c.detectTimeMs } : {}) };
          if (c.to === 'Up' || c.to === 'Init') log.info(fields, `BFD session to ${peer.peerAddress} is Up`);
          else log.warn(fields, `BFD session to ${peer.peerAddress}: ${c.from} -> ${c.to} (${diagName(c.diag)})`);
        },
      });
    } catch (e) {
      const err = e as BfdTransportError;
      log.error({ event: 'listen-error', code: err.code }, err.message);
      log.flush();
      process.exit(1);
    }
    endpoints.push(ep);
    for (const peerAddress of peers) {
      const peer: BfdPeer = { peerAddress, ...timers, ...(locals.has(family) ? { localAddress: locals.get(family) } : {}), ...(opts.passive ? { passive: true } : {}) };
      ep.addPeer(peer);
    }
    log.info(
      { event: 'start', family, port: ep.port, sourcePort: ep.sourcePort, peers: peers.length, multihop: ep.multihop, ...timers, passive: opts.passive === true },
      `BFD to ${peers.length} IPv${family} peer(s) on port ${ep.port}`,
    );
  }

  const stats = (): void => {
    for (const ep of endpoints) {
      const up = ep.sessions().filter((s) => s.session.state === 'Up').length;
      log.info({ event: 'stats', family: ep.family, sessions: ep.sessions().length, up, ...ep.counters }, 'counters');
    }
  };
  if (opts.statsInterval > 0) setInterval(stats, opts.statsInterval * 1000).unref();
  // The sessions' timers keep the process alive; process.exit() ends it.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    stats();
    // AdminDown first: the peers see a deliberate shutdown (diag 3 on their side), not a failure.
    for (const ep of endpoints) ep.close(true);
    log.info({ event: 'exit', signal }, `${signal}: AdminDown sent, exiting`);
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
