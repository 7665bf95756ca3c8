// `herald speaker`: the per-node daemon that announces Service VIPs by layer2 (ARP/NDP) or BGP
// (see speaker/speaker.ts). Runs until SIGTERM/SIGINT, then withdraws, deletes its Lease, exits 0.
//
// Hidden `--announcer record` (env HERALD_ANNOUNCER=record): no raw sockets and no BGP sessions;
// every balancer set/delete is printed to stdout as a JSON line {"announcer":"layer2"|"bgp",
// "op":"setBalancer"|"deleteBalancer",...}, so cluster tests can run several speakers on one host.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseGoDuration } from '../config/duration.js';
import { createLogger, logLevelOption, parseLogLevel, type Logger } from '../kube/log.js';
import { addDaemonInputOptions, configSourceText, daemonKubeConfig, daemonNamespace, type DaemonInputOpts } from './daemon-inputs.js';
import { runDaemon } from './run-daemon.js';
import { openListener, parseListenAddress, type BgpListener, type ListenAddress } from '../protocols/bgp/listener.js';
import { BgpResources } from '../protocols/bgp/resources.js';
import { compileExcludes, DEFAULT_EXCLUDES, InterfaceSelectionError } from '../protocols/layer2/interfaces.js';
import { RecordingAnnouncer, type AnnounceDecider, type AnnouncerCall } from '../speaker/announcer.js';
import { SpeakerMetrics } from '../speaker/metrics.js';
import { Speaker, type SpeakerAnnouncers, type SpeakerDeciders, type SpeakerOptions } from '../speaker/speaker.js';

interface SpeakerCliOpts extends DaemonInputOpts {
  livenessPort: number;
  livenessAddress?: string;
  livenessSecretFile?: string;
  livenessPeriod: number;
  livenessProbeTimeout: number;
  livenessSuspicion: number;
  nodeName?: string;
  leaseRenew: number;
  leaseDuration: number;
  interface?: string[];
  excludeInterface?: string[];
  gracefulRestart?: number;
  bgpListen?: ListenAddress;
  metricsAddress: string;
  logLevel: string;
  announcer: 'protocols' | 'record';
  serviceStatus: 'on' | 'off';
  layer2Holders: 'on' | 'off';
  podName?: string;
  podUid?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A Go-style duration ("1s", "500ms") in milliseconds, > 0. */
export function parseMillis(flag: string): (text: string) => number {
  return (text) => {
    const d = parseGoDuration(text.trim());
    if (!d.ok) throw new InvalidArgumentError(`${flag}: ${d.reason}`);
    const ms = Number(d.value / 1_000_000n);
    if (ms < 1) throw new InvalidArgumentError(`${flag}: must be at least 1ms, got ${JSON.stringify(text)}`);
    return ms;
  };
}

function uint(flag: string, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n > max) throw new InvalidArgumentError(`${flag}: expected an integer 0..${max}, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** Lease timings when liveness is on (README: the split-brain bound with liveness). */
export const LIVENESS_LEASE_RENEW_MS = 10_000;
export const LIVENESS_LEASE_DURATION_MS = 30_000;

function listenAddress(text: string): ListenAddress {
  try {
    return parseListenAddress(text);
  } catch (e) {
    throw new InvalidArgumentError(`--bgp-listen: ${(e as Error).message}`);
  }
}

/** Recording announcers that stream their balancer calls to stdout (decisions stay the daemon's). */
function recordingAnnouncers(deciders: { layer2: AnnounceDecider; bgp: AnnounceDecider }, node: string, interfaces: readonly string[]): SpeakerAnnouncers {
  const out = (announcer: string) => (call: AnnouncerCall) => {
    if (call.op === 'shouldAnnounce') return;
    const line = call.op === 'setConfig' ? { announcer, op: call.op, node, pools: call.config.pools.length } : { announcer, node, ...call };
    process.stdout.write(`${JSON.stringify({ ...line, t: Date.now() })}\n`);
  };
  return {
    // Without sockets the --interface names stand for the interfaces served (ServiceL2Status).
    layer2: Object.assign(new RecordingAnnouncer('layer2', { decide: deciders.layer2, onCall: out('layer2'), keepCalls: false }), { interfaces: () => interfaces }),
    bgp: new RecordingAnnouncer('bgp', { decide: deciders.bgp, onCall: out('bgp'), keepCalls: false }),
  };
}

/** The real protocols; loaded only when used (the layer2 one needs the AF_PACKET addon). */
async function protocolAnnouncers(
  opts: SpeakerCliOpts,
  exclude: RegExp[],
  log: Logger,
  metrics: SpeakerMetrics,
  node: string,
): Promise<(d: SpeakerDeciders) => SpeakerAnnouncers> {
  const [{ Layer2Announcer }, { BgpAnnouncer }, { packetSocketIo }, { loadPacketSocketAddon }] = await Promise.all([
    import('../speaker/layer2-announcer.js'),
    import('../speaker/bgp-announcer.js'),
    import('../protocols/layer2/packet-io.js'),
    import('../protocols/rawio/addon.js'),
  ]);
  const addon = loadPacketSocketAddon();
  if (addon instanceof Error) throw addon;
  const bgpLog = createLogger({ component: 'bgp', level: log.level }).child({ node });
  let listener: BgpListener | undefined;
  // One set of counters for the listener and every session (herald_bgp_sockets_open, ...).
  const resources = new BgpResources();
  if (opts.bgpListen) {
    try {
      listener = await openListener(opts.bgpListen, { log: bgpLog, resources });
    } catch (err) {
      const hint = (err as { code?: string }).code === 'EACCES' ? ' (a port below 1024 needs CAP_NET_BIND_SERVICE)' : '';
      log.fatal({ event: 'startFailed', err }, `--bgp-listen: cannot listen on ${opts.bgpListen.address ?? '*'}:${opts.bgpListen.port}: ${(err as Error).message}${hint}`);
      process.exit(1);
    }
    bgpLog.info({ event: 'bgpListening', reason: `${listener.address}:${listener.port}` }, 'accepting BGP connections from configured peers');
  }
  return (d) => ({
    layer2: new Layer2Announcer({
      decide: d.layer2,
      mayAnswer: d.mayAnswer,
      io: packetSocketIo,
      include: opts.interface ?? [],
      exclude,
      log: createLogger({ component: 'layer2', level: log.level }).child({ node }),
      metrics,
      serviceEvent: d.serviceEvent,
    }),
    bgp: new BgpAnnouncer({ decide: d.bgp, node, log: bgpLog, metrics, gracefulRestartSeconds: opts.gracefulRestart, listener, resources }),
  });
}

export function register(program: Command): void {
  addDaemonInputOptions(
    program
      .command('speaker')
      .description('announce the VIPs of LoadBalancer Services from this node by layer2 (ARP/NDP) or BGP, per the ConfigMap\'s pools')
      .addOption(new Option('--node-name <name>', 'this node\'s name (required)').env('HERALD_NODE_NAME')),
    'the speaker Leases',
  )
    .addOption(new Option('--lease-renew <duration>', 'how often this speaker renews its Lease herald-speaker-<node> (with --liveness-port: its heartbeat Lease herald-heartbeat-<node>; the other changes only on a change, and every 1s without the liveness quorum)').default(1000, '1s; 10s with --liveness-port').argParser(parseMillis('--lease-renew')).env('HERALD_LEASE_RENEW'))
    .addOption(
      new Option('--lease-duration <duration>', 'a speaker whose Lease did not change for this long is dead to the others and fences itself (with --liveness-port: that cannot renew its heartbeat Lease; it then stops answering the liveness protocol, and the others declare it dead)')
        .default(3000, '3s; 30s with --liveness-port')
        .argParser(parseMillis('--lease-duration'))
        .env('HERALD_LEASE_DURATION'),
    )
    .addOption(new Option('--liveness-port <port>', 'UDP port of the speaker-to-speaker liveness protocol (SWIM; 0: off, crashes are then detected by the Lease only)').default(0).argParser(uint('--liveness-port', 65535)).env('HERALD_LIVENESS_PORT'))
    .addOption(new Option('--liveness-address <ip>', "this node's address for the liveness protocol (required with --liveness-port)").env('HERALD_LIVENESS_ADDRESS'))
    .addOption(new Option('--liveness-secret-file <path>', 'file holding the shared secret that authenticates liveness messages (at least 16 bytes; required with --liveness-port)').env('HERALD_LIVENESS_SECRET_FILE'))
    .addOption(new Option('--liveness-period <duration>', 'liveness: probe one peer this often').default(200, '200ms').argParser(parseMillis('--liveness-period')).env('HERALD_LIVENESS_PERIOD'))
    .addOption(new Option('--liveness-probe-timeout <duration>', 'liveness: direct probe timeout before asking others (below the period)').default(80, '80ms').argParser(parseMillis('--liveness-probe-timeout')).env('HERALD_LIVENESS_PROBE_TIMEOUT'))
    .addOption(new Option('--liveness-suspicion <duration>', 'liveness: a suspect peer not heard from for this long is dead').default(400, '400ms').argParser(parseMillis('--liveness-suspicion')).env('HERALD_LIVENESS_SUSPICION'))
    .addOption(new Option('--interface <name>', 'layer2: serve exactly this interface; repeat for more (default: every eligible one)').argParser(collect))
    .addOption(new Option('--exclude-interface <regex>', `layer2: never serve interfaces matching; repeat for more; replaces the default list (${DEFAULT_EXCLUDES.join(' ')})`).argParser(collect))
    .addOption(new Option('--graceful-restart <seconds>', 'BGP: offer graceful restart (RFC 4724) with this restart time; peers that accept keep our routes across a speaker restart').argParser(uint('--graceful-restart', 4095)))
    .addOption(new Option('--bgp-listen [address]', "BGP: also accept connections from this node's peers at [ADDRESS][:PORT] (default: all addresses, port 179; ports below 1024 need CAP_NET_BIND_SERVICE)").preset('').argParser(listenAddress))
    .addOption(new Option('--metrics-address <host:port>', 'listen address of /metrics, /healthz, /readyz').default(':7473').env('HERALD_METRICS_ADDRESS'))
    .addOption(
      new Option('--service-status <on|off>', 'write a ServiceL2Status / ServiceBGPStatus object per Service this node announces (metallb.io; writes only on announcement changes)')
        .choices(['on', 'off'])
        .default('on')
        .env('HERALD_SERVICE_STATUS'),
    )
    .addOption(
      new Option(
        '--layer2-holders <on|off>',
        'layer2: a node that took a Service over from a failed owner keeps it, also after every speaker restarted (reads the ServiceL2Status objects and names the failed owner on its own; needs --service-status on)',
      )
        .choices(['on', 'off'])
        .default('on')
        .env('HERALD_LAYER2_HOLDERS'),
    )
    .addOption(new Option('--pod-name <name>', 'this speaker\'s Pod, owner of its status objects (with --pod-uid; the chart sets both)').env('HERALD_POD_NAME'))
    .addOption(new Option('--pod-uid <uid>', 'the UID of --pod-name').env('HERALD_POD_UID'))
    .addOption(logLevelOption())
    .addOption(new Option('--announcer <kind>', 'protocols, or record (print decisions as JSON lines; tests)').choices(['protocols', 'record']).default('protocols').env('HERALD_ANNOUNCER').hideHelp())
    .action(async (opts: SpeakerCliOpts, cmd: Command) => {
      const level = parseLogLevel(opts.logLevel);
      const node = opts.nodeName?.trim();
      if (!node) cmd.error('--node-name: required (or set HERALD_NODE_NAME, e.g. from spec.nodeName)', { exitCode: 2 });
      // With liveness the Lease only carries membership and self-fencing: renewed at the kubelet's
      // rate (0.1 writes/s per node), fast only while without the liveness quorum (README: liveness).
      if (opts.livenessPort > 0 && cmd.getOptionValueSource('leaseRenew') === 'default') opts.leaseRenew = LIVENESS_LEASE_RENEW_MS;
      if (opts.livenessPort > 0 && cmd.getOptionValueSource('leaseDuration') === 'default') opts.leaseDuration = LIVENESS_LEASE_DURATION_MS;
      if (opts.leaseRenew >= opts.leaseDuration) cmd.error(`--lease-renew: must be shorter than --lease-duration (${opts.leaseRenew} ms >= ${opts.leaseDuration} ms)`, { exitCode: 2 });
      let liveness: SpeakerOptions['liveness'];
      if (opts.livenessPort > 0) {
        if (!opts.livenessAddress || isIP(opts.livenessAddress) === 0) cmd.error('--liveness-address: an IP address is required with --liveness-port', { exitCode: 2 });
        if (!opts.livenessSecretFile) cmd.error('--liveness-secret-file: required with --liveness-port', { exitCode: 2 });
        if (opts.livenessProbeTimeout >= opts.livenessPeriod) cmd.error('--liveness-probe-timeout: must be below --liveness-period', { exitCode: 2 });
        let secret = Buffer.alloc(0);
        try {
          secret = readFileSync(opts.livenessSecretFile as string);
        } catch (e) {
          cmd.error(`--liveness-secret-file: ${(e as Error).message}`, { exitCode: 2 });
        }
        if (secret.length < 16) cmd.error(`--liveness-secret-file: the secret must have at least 16 bytes, has ${secret.length}`, { exitCode: 2 });
        liveness = {
          address: opts.livenessAddress as string,
          port: opts.livenessPort,
          secret,
          periodMs: opts.livenessPeriod,
          probeTimeoutMs: opts.livenessProbeTimeout,
          suspicionMs: opts.livenessSuspicion,
        };
      }
      const namespace = daemonNamespace(opts, cmd);
      let exclude: RegExp[] = [];
      try {
        exclude = compileExcludes(opts.excludeInterface ?? DEFAULT_EXCLUDES);
      } catch (e) {
        if (e instanceof InterfaceSelectionError) cmd.error(`--exclude-interface: ${e.message}`, { exitCode: 2 });
        throw e;
      }
      const kubeConfig = daemonKubeConfig(opts, cmd);
      // One root logger per component (a child would repeat the `component` key); every line names the node.
      const log = createLogger({ component: 'speaker', level }).child({ node });
      const metrics = new SpeakerMetrics({ node: node as string });
      let announcers: (d: { layer2: AnnounceDecider; bgp: AnnounceDecider }) => SpeakerAnnouncers;
      if (opts.announcer === 'record') announcers = (d) => recordingAnnouncers(d, node as string, opts.interface ?? []);
      else {
        try {
          announcers = await protocolAnnouncers(opts, exclude, log, metrics, node as string);
        } catch (err) {
          log.fatal({ event: 'startFailed', err }, `cannot open raw sockets for layer2: ${(err as Error).message}`);
          process.exit(1);
        }
      }
      const speaker = new Speaker({
        kubeConfig,
        node: node as string,
        namespace,
        configMap: opts.configMap,
        configSource: opts.configSource,
        servicesNamespace: opts.servicesNamespace,
        lbClass: opts.lbClass,
        leaseRenewMs: opts.leaseRenew,
        leaseDurationMs: opts.leaseDuration,
        liveness,
        metricsAddress: opts.metricsAddress,
        logger: log,
        metrics,
        announcers,
        serviceStatus: opts.serviceStatus === 'on',
        layer2Holders: opts.layer2Holders === 'on',
        pod: opts.podName && opts.podUid ? { name: opts.podName, uid: opts.podUid } : undefined,
      });
      log.info({ event: 'starting', reason: `namespace ${namespace}, ${configSourceText(opts)}, lease renew ${opts.leaseRenew} ms, duration ${opts.leaseDuration} ms, announcer ${opts.announcer}` }, 'starting');
      await runDaemon(speaker, log, 'withdrawing and stopping');
    });
}
