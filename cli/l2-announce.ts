// `herald l2 announce`: answers ARP/NDP for the given VIPs on this host's interfaces and sends the
// gratuitous burst, until SIGTERM/SIGINT (then stops answering and exits 0). Logs JSON lines.
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { Announcer, parseVip, VipError } from '../protocols/layer2/announcer.js';
import { InterfaceWatcher } from '../protocols/layer2/interface-watcher.js';
import { compileExcludes, DEFAULT_EXCLUDES, InterfaceSelectionError, sysLinkSource } from '../protocols/layer2/interfaces.js';
import { packetSocketIo } from '../protocols/layer2/packet-io.js';
import { formatMac } from '../protocols/rawio/mac.js';
import { loadPacketSocketAddon } from '../protocols/rawio/addon.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `1s`, `250ms`, `1.5s` -> milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`${flag}: expected a duration like 1s or 250ms, got ${JSON.stringify(text)}`);
  const ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (!(ms > 0)) throw new InvalidArgumentError(`${flag}: must be > 0, got ${JSON.stringify(text)}`);
  return ms;
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--garp-count: expected an integer >= 0, got ${JSON.stringify(text)}`);
  return n;
}

interface AnnounceOpts {
  ip: string[];
  interface?: string[];
  excludeInterface?: string[];
  garpCount: number;
  garpInterval: number;
  rescanInterval: number;
  logLevel: string;
}

export function register(program: Command): void {
  const l2 = program.commands.find((c) => c.name() === 'l2') ?? program.command('l2').description('layer2 (ARP/NDP) announcements');
  l2.command('announce')
    .description('answer ARP/NDP for the given VIPs and send gratuitous announcements until stopped (SIGTERM: stop answering, exit 0)')
    .requiredOption('--ip <address>', 'VIP to announce (IPv4 or IPv6); repeat for more', collect)
    .option('--interface <name>', 'serve exactly this interface; repeat for more (default: every eligible one)', collect)
    .option('--exclude-interface <regex>', `never serve interfaces matching; repeat for more; replaces the default list (${DEFAULT_EXCLUDES.join(' ')})`, collect)
    .addOption(new Option('--garp-count <n>', 'gratuitous rounds per announce, the first at once').default(6).argParser(parseCount))
    .addOption(new Option('--garp-interval <duration>', 'time between gratuitous rounds').default(1000, '1s').argParser((v) => parseDuration('--garp-interval', v)))
    .addOption(new Option('--rescan-interval <duration>', 'how often interfaces are rescanned').default(1000, '1s').argParser((v) => parseDuration('--rescan-interval', v)))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action((opts: AnnounceOpts, cmd: Command) => {
      run(opts, cmd);
    });
}

function run(opts: AnnounceOpts, cmd: Command): void {
  let vips: string[];
  let exclude: RegExp[];
  try {
    vips = opts.ip.map((ip) => parseVip(ip).ip);
    exclude = compileExcludes(opts.excludeInterface ?? DEFAULT_EXCLUDES);
  } catch (e) {
    if (e instanceof VipError) cmd.error(`--ip: ${e.message}`, { exitCode: 2 });
    if (e instanceof InterfaceSelectionError) cmd.error(`--exclude-interface: ${e.message}`, { exitCode: 2 });
    throw e;
  }
  const addon = loadPacketSocketAddon();
  if (addon instanceof Error) cmd.error(addon.message, { exitCode: 1 });

  const log = pino({ level: opts.logLevel, base: { cmd: 'l2-announce', pid: process.pid } });
  const announcer = new Announcer({ io: packetSocketIo, garpCount: opts.garpCount, garpIntervalMs: opts.garpInterval, log });
  const watcher = new InterfaceWatcher({
    source: sysLinkSource,
    selection: { include: opts.interface ?? [], exclude },
    periodMs: opts.rescanInterval,
    apply: (links) => announcer.setInterfaces(links),
    onChange: (r) =>
      log.info(
        { interfaces: r.links.map((l) => ({ name: l.name, mac: formatMac(l.mac) })), skipped: r.skipped.filter((s) => !/^excluded/.test(s.reason)) },
        'interfaces selected',
      ),
  });
  const selected = watcher.start();
  if (selected.links.length > 0 && announcer.interfaces().length === 0) {
    // Every open failed (the warnings above say why): typically no CAP_NET_RAW. Nothing would be answered.
    log.error({ interfaces: selected.links.map((l) => l.name) }, 'cannot open any selected interface (raw sockets need root or CAP_NET_RAW)');
    log.flush();
    process.exit(1);
  }
  for (const ip of vips) announcer.announce(ip);
  log.info({ vips, interfaces: announcer.interfaces() }, 'ready');
  // The periodic rescan timer is unref'd; this keeps the process alive until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);

  const stop = (signal: string): void => {
    announcer.close();
    watcher.stop();
    clearInterval(keepAlive);
    log.info({ signal, counters: Object.fromEntries(announcer.counters()), ...announcer.globalCounters() }, 'stopped');
    log.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
