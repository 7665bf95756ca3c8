// `herald controller`: the daemon that gives LoadBalancer Services their addresses (see
// controller/controller.ts). Runs until SIGTERM/SIGINT, then releases its leader Lease and exits 0.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { CONFIG_SOURCE_KINDS, type ConfigSourceKind } from '../allocator/config-verdict.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isDnsSubdomain } from '../config/dns-subdomain.js';
import { NANOS_PER_SECOND, parseGoDuration } from '../config/duration.js';
import { Controller, DEFAULT_LEASE_NAME } from '../controller/controller.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { KubeConfigError, loadKubeConfig } from '../kube/config.js';
import { createLogger, logLevelOption, parseLogLevel } from '../kube/log.js';
import { runDaemon } from './run-daemon.js';

interface ControllerCliOpts {
  namespace?: string;
  configMap: string;
  configSource: ConfigSourceKind;
  kubeconfig?: string;
  lbClass?: string;
  servicesNamespace?: string;
  leaderElect: boolean;
  leaderElectLeaseName: string;
  leaseDuration: number;
  crdDiscoveryInterval: number;
  metricsAddress: string;
  logLevel: string;
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

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
  program
    .command('controller')
    .description('allocate addresses to LoadBalancer Services from the ConfigMap\'s pools and write them to the Services\' status')
    .addOption(new Option('--namespace <ns>', 'namespace of the ConfigMap and the leader Lease (default: the service account\'s namespace)').env('HERALD_NAMESPACE'))
    .addOption(new Option('--config-map <name>', 'name of the ConfigMap (MetalLB legacy format, key data.config)').default('config').env('HERALD_CONFIG_MAP'))
    .addOption(
      new Option('--config-source <source>', 'read the config from the ConfigMap, or from the metallb.io objects (IPAddressPool, L2Advertisement, ...) of --namespace; a config in both is refused')
        .choices(CONFIG_SOURCE_KINDS)
        .default('configmap')
        .env('HERALD_CONFIG_SOURCE'),
    )
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, then in-cluster)'))
    .addOption(new Option('--lb-class <class>', 'handle Services with this spec.loadBalancerClass (default: only Services without one)').env('HERALD_LB_CLASS'))
    .addOption(new Option('--services-namespace <ns>', 'handle Services of this namespace only (default: all namespaces)').env('HERALD_SERVICES_NAMESPACE'))
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
      let namespace = opts.namespace;
      if (!namespace && existsSync(SA_NAMESPACE)) namespace = readFileSync(SA_NAMESPACE, 'utf8').trim();
      if (!namespace) cmd.error('--namespace: required outside a Pod (or set HERALD_NAMESPACE)', { exitCode: 2 });
      let kubeConfig;
      try {
        kubeConfig = loadKubeConfig({ kubeconfig: opts.kubeconfig }).kubeConfig;
      } catch (e) {
        if (e instanceof KubeConfigError) cmd.error(`--kubeconfig: ${e.message}`, { exitCode: 2 });
        throw e;
      }
      const identity = process.env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`;
      const controller = new Controller({
        kubeConfig,
        namespace: namespace as string,
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
      log.info({ event: 'starting', node: identity, reason: `namespace ${namespace}, config ${opts.configSource === 'crds' ? 'from metallb.io objects' : `map ${opts.configMap}`}, leader election ${opts.leaderElect}` }, 'starting');
      await runDaemon(controller, log, 'stopping');
    });
}
