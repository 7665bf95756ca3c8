// `herald controller`: the daemon that gives LoadBalancer Services their addresses (see
// controller/controller.ts). Runs until SIGTERM/SIGINT, then releases its leader Lease and exits 0.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isDnsSubdomain } from '../config/dns-subdomain.js';
import { NANOS_PER_SECOND, parseGoDuration } from '../config/duration.js';
import { Controller, DEFAULT_LEASE_NAME } from '../controller/controller.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { createLogger, logLevelOption, parseLogLevel } from '../kube/log.js';
import { addDaemonInputOptions, configSourceText, daemonKubeConfig, daemonNamespace, type DaemonInputOpts } from './daemon-inputs.js';
import { runDaemon } from './run-daemon.js';

interface ControllerCliOpts extends DaemonInputOpts {
  leaderElect: boolean;
  leaderElectLeaseName: string;
  leaseDuration: number;
  crdDiscoveryInterval: number;
  metricsAddress: string;
  logLevel: string;
}

function parseBool(flag: string): (text: string) => boolean {
  return (text) => {
    const v = text.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    throw new InvalidArgumentError(`${flag}: expected true or false, got ${JSON.stringify(text)}`);
  };
}

function parseObjectName(flag: string): (text: string) => string {
  return (text) => {
    if (!isDnsSubdomain(text)) throw new InvalidArgumentError(`${flag}: ${JSON.stringify(text)} is not a valid object name (lower-case letters, digits, '-' and '.', at most 253)`);
    return text;
  };
}

function parseSeconds(flag: string): (text: string) => number {
  return (text) => {
    const d = parseGoDuration(text.trim());
    if (!d.ok) throw new InvalidArgumentError(`${flag}: ${d.reason}`);
    if (d.value < NANOS_PER_SECOND) throw new InvalidArgumentError(`${flag}: must be at least 1s, got ${JSON.stringify(text)}`);
    return Number(d.value / 1_000_000n);
  };
}

/** A duration of 0s (off) or at least 1s, in ms. */
function parseInterval(flag: string): (text: string) => number {
  return (text) => {
    const d = parseGoDuration(text.trim());
    if (!d.ok) throw new InvalidArgumentError(`${flag}: ${d.reason}`);
    if (d.value !== 0n && d.value < NANOS_PER_SECOND) throw new InvalidArgumentError(`${flag}: must be 0s (off) or at least 1s, got ${JSON.stringify(text)}`);
    return Number(d.value / 1_000_000n);
  };
}

export function register(program: Command): void {
  addDaemonInputOptions(
    program.command('controller').description('allocate addresses to LoadBalancer Services from the ConfigMap\'s pools and write them to the Services\' status'),
    'the leader Lease',
  )
    .addOption(new Option('--leader-elect <bool>', 'elect a leader among replicas on a Lease; only the leader writes').default(true).argParser(parseBool('--leader-elect')).env('HERALD_LEADER_ELECT'))
    .addOption(
      new Option('--leader-elect-lease-name <name>', 'name of the leader Lease in --namespace (replicas sharing it elect one leader)')
        .default(DEFAULT_LEASE_NAME)
        .argParser(parseObjectName('--leader-elect-lease-name'))
        .env('HERALD_LEADER_ELECT_LEASE_NAME'),
    )
    .addOption(
      new Option('--lease-duration <duration>', 'leader Lease duration: a standby takes over when the last renewal it saw is this old; the leader renews every 2/15 of it and stops writing after 2/3 without a renewal')
        .default(15_000, '15s')
        .argParser(parseSeconds('--lease-duration'))
        .env('HERALD_LEASE_DURATION'),
    )
    .addOption(
      new Option('--crd-discovery-interval <duration>', 'how often the metallb.io kinds the API server serves are discovered again, so CRDs installed or deleted at runtime are watched or dropped (0s: only at start)')
        .default(30_000, '30s')
        .argParser(parseInterval('--crd-discovery-interval'))
        .env('HERALD_CRD_DISCOVERY_INTERVAL'),
    )
    .addOption(new Option('--metrics-address <host:port>', 'listen address of /metrics, /healthz, /readyz').default(':7472').env('HERALD_METRICS_ADDRESS'))
    .addOption(logLevelOption())
    .action(async (opts: ControllerCliOpts, cmd: Command) => {
      const level = parseLogLevel(opts.logLevel);
      const log = createLogger({ component: 'controller', level });
      const namespace = daemonNamespace(opts, cmd);
      const kubeConfig = daemonKubeConfig(opts, cmd);
      const identity = process.env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`;
      const controller = new Controller({
        kubeConfig,
        namespace,
        configMap: opts.configMap,
        configSource: opts.configSource,
        lbClass: opts.lbClass,
        servicesNamespace: opts.servicesNamespace,
        leaderElect: opts.leaderElect,
        leaseDurationMs: opts.leaseDuration,
        leaseName: opts.leaderElectLeaseName,
        crdDiscoveryIntervalMs: opts.crdDiscoveryInterval,
        identity,
        metricsAddress: opts.metricsAddress,
        logger: log,
        metrics: new ControllerMetrics(),
      });
      log.info({ event: 'starting', node: identity, reason: `namespace ${namespace}, ${configSourceText(opts)}, leader election ${opts.leaderElect}` }, 'starting');
      await runDaemon(controller, log, 'stopping');
    });
}
