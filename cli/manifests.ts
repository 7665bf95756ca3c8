// `herald manifests`: prints the install (the same objects as the Helm chart in charts/herald/ with
// its default values, plus the Namespace, and the metallb.io CRDs first) as plain YAML for `kubectl apply -f -`.
// Exit 0: printed; 1: the --config-file is not a valid config; 2: bad option or unreadable file.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import yaml from 'js-yaml';
import { parseGoDuration } from '../config/duration.js';
import { ConfigError } from '../config/model.js';
import { parseConfig } from '../config/parse.js';
import { crdObjects } from '../kube/crds.js';
import { LOG_LEVELS } from '../kube/log.js';
import { defaultValues, installManifests, podDisruptionBudgetApiVersion, toYamlStream, type HeraldValues, type PullPolicy } from '../kube/manifests.js';

interface ManifestsOpts {
  namespace: string;
  name: string;
  imageRepository?: string;
  imageTag?: string;
  imagePullPolicy?: string;
  logLevel?: string;
  lbClass?: string;
  controllerReplicas?: string;
  configFile?: string;
  existingConfigMap?: string;
  configSource?: string;
  bgpPassive?: boolean;
  serviceStatus: boolean;
  interface?: string[];
  excludeInterface?: string[];
  gracefulRestart?: string;
  podMonitor?: boolean;
  prometheusRule?: boolean;
  controllerLeaseDuration?: string;
  speakerLeaseRenew?: string;
  speakerLeaseDuration?: string;
  controllerExtraArg?: string[];
  speakerExtraArg?: string[];
  controllerPriorityClass?: string;
  speakerPriorityClass?: string;
  kubeVersion?: string;
  liveness: boolean;
  livenessPort?: string;
  livenessSecret?: string;
  rbac: boolean;
  crds: boolean;
  namespaceObject: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PULL_POLICIES: readonly string[] = ['IfNotPresent', 'Always', 'Never'];

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A bad flag value (exit 2). */
class FlagError extends Error {}

/** Checks the flags commander leaves as text; throws FlagError naming the flag. */
export function checkFlags(opts: ManifestsOpts): void {
  for (const [flag, value] of [
    ['--namespace', opts.namespace],
    ['--name', opts.name],
    ['--existing-config-map', opts.existingConfigMap],
  ] as const) {
    if (value !== undefined && !DNS_LABEL.test(value)) throw new FlagError(`${flag}: must be a DNS label (lowercase letters, digits, '-', at most 63), got ${JSON.stringify(value)}`);
  }
  if (opts.controllerReplicas !== undefined && !/^[0-9]{1,4}$/.test(opts.controllerReplicas)) {
    throw new FlagError(`--controller-replicas: expected a whole number, got ${JSON.stringify(opts.controllerReplicas)}`);
  }
  if (opts.imagePullPolicy !== undefined && !PULL_POLICIES.includes(opts.imagePullPolicy)) {
    throw new FlagError(`--image-pull-policy: expected one of ${PULL_POLICIES.join(', ')}, got ${JSON.stringify(opts.imagePullPolicy)}`);
  }
  if (opts.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) {
    throw new FlagError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(opts.logLevel)}`);
  }
  if (opts.gracefulRestart !== undefined && !(/^[0-9]{1,4}$/.test(opts.gracefulRestart) && Number(opts.gracefulRestart) <= 4095)) {
    throw new FlagError(`--graceful-restart: expected seconds 0..4095, got ${JSON.stringify(opts.gracefulRestart)}`);
  }
  for (const x of opts.excludeInterface ?? []) {
    try {
      new RegExp(x);
    } catch (e) {
      throw new FlagError(`--exclude-interface: ${(e as Error).message}`);
    }
  }
  for (const [flag, value] of [
    ['--controller-lease-duration', opts.controllerLeaseDuration],
    ['--speaker-lease-renew', opts.speakerLeaseRenew],
    ['--speaker-lease-duration', opts.speakerLeaseDuration],
  ] as const) {
    if (value === undefined) continue;
    const d = parseGoDuration(value);
    if (!d.ok) throw new FlagError(`${flag}: ${d.reason}`);
  }
  for (const [flag, value] of [
    ['--controller-priority-class', opts.controllerPriorityClass],
    ['--speaker-priority-class', opts.speakerPriorityClass],
  ] as const) {
    if (value !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value)) throw new FlagError(`${flag}: must be a PriorityClass name (DNS subdomain), got ${JSON.stringify(value)}`);
  }
  if (opts.kubeVersion !== undefined) {
    try {
      podDisruptionBudgetApiVersion(opts.kubeVersion);
    } catch (e) {
      throw new FlagError(`--kube-version: ${(e as Error).message}`);
    }
  }
  if (opts.livenessPort !== undefined && !(/^[0-9]{1,5}$/.test(opts.livenessPort) && Number(opts.livenessPort) >= 1 && Number(opts.livenessPort) <= 65535)) {
    throw new FlagError(`--liveness-port: expected a port 1..65535, got ${JSON.stringify(opts.livenessPort)}`);
  }
  if (opts.livenessSecret !== undefined && (!/^[A-Za-z0-9+/]+={0,2}$/.test(opts.livenessSecret) || Buffer.from(opts.livenessSecret, 'base64').length < 16)) {
    throw new FlagError('--liveness-secret: expected base64 of at least 16 bytes (the installed one: kubectl get secret <name>-liveness -o jsonpath={.data.secret})');
  }
  if (opts.configFile !== undefined && opts.existingConfigMap !== undefined) throw new FlagError('--existing-config-map: cannot be used with --config-file');
  if (opts.configSource !== undefined && opts.configSource !== 'configmap' && opts.configSource !== 'crds') {
    throw new FlagError(`--config-source: expected configmap or crds, got ${JSON.stringify(opts.configSource)}`);
  }
  if (opts.configSource === 'crds' && opts.configFile !== undefined) throw new FlagError('--config-file: fills the ConfigMap, which --config-source crds does not use (apply the metallb.io objects instead)');
}

/** The config object for configInline from a file holding a ConfigMap manifest or a bare config document; validated first. */
export function configFromFile(text: string): Record<string, unknown> {
  parseConfig(text); // throws ConfigError naming the field
  const docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  const cm = docs.find((d): d is { data?: { config?: unknown } } => typeof d === 'object' && (d as { kind?: unknown }).kind === 'ConfigMap');
  const doc = cm ? yaml.load(String(cm.data?.config ?? '')) : docs[0];
  return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : {};
}

/** Values from the command line over the chart's defaults. */
export function valuesFromOptions(opts: ManifestsOpts, readFile: (path: string) => string): HeraldValues {
  const v = defaultValues();
  if (opts.imageRepository !== undefined) v.image.repository = opts.imageRepository;
  if (opts.imageTag !== undefined) v.image.tag = opts.imageTag;
  if (opts.imagePullPolicy !== undefined) v.image.pullPolicy = opts.imagePullPolicy as PullPolicy;
  if (opts.logLevel !== undefined) v.logLevel = opts.logLevel as HeraldValues['logLevel'];
  if (opts.lbClass !== undefined) v.loadBalancerClass = opts.lbClass;
  if (opts.controllerReplicas !== undefined) v.controller.replicas = Number(opts.controllerReplicas);
  if (opts.existingConfigMap !== undefined) v.existingConfigMap = opts.existingConfigMap;
  if (opts.configSource !== undefined) v.configSource = opts.configSource as HeraldValues['configSource'];
  if (opts.configFile !== undefined) v.configInline = configFromFile(readFile(opts.configFile));
  if (opts.bgpPassive) v.speaker.bgpPassive = true;
  if (!opts.serviceStatus) v.speaker.serviceStatus = false;
  if (opts.interface) v.speaker.interfaces = opts.interface;
  if (opts.excludeInterface) v.speaker.excludeInterfaces = opts.excludeInterface;
  if (opts.gracefulRestart !== undefined) v.speaker.gracefulRestart = Number(opts.gracefulRestart);
  if (opts.podMonitor) v.podMonitor.enabled = true;
  if (opts.prometheusRule) v.prometheusRule.enabled = true;
  if (opts.controllerLeaseDuration !== undefined) v.controller.leaseDuration = opts.controllerLeaseDuration;
  if (opts.speakerLeaseRenew !== undefined) v.speaker.leaseRenew = opts.speakerLeaseRenew;
  if (opts.speakerLeaseDuration !== undefined) v.speaker.leaseDuration = opts.speakerLeaseDuration;
  if (opts.controllerExtraArg) v.controller.extraArgs = opts.controllerExtraArg;
  if (opts.speakerExtraArg) v.speaker.extraArgs = opts.speakerExtraArg;
  if (opts.controllerPriorityClass !== undefined) v.controller.priorityClassName = opts.controllerPriorityClass;
  if (opts.speakerPriorityClass !== undefined) v.speaker.priorityClassName = opts.speakerPriorityClass;
  v.speaker.liveness.enabled = opts.liveness;
  if (opts.livenessPort !== undefined) v.speaker.liveness.port = Number(opts.livenessPort);
  v.rbac.create = opts.rbac;
  v.namespaceObject = opts.namespaceObject;
  return v;
}

export function register(program: Command): void {
  program
    .command('manifests')
    .description(
      'print the install (controller Deployment, speaker DaemonSet, ServiceAccounts, least-privilege RBAC, ConfigMap, metrics Services) as YAML for `kubectl apply -f -`; ' +
        'the same objects as the Helm chart charts/herald (exit 0: printed; 1: invalid --config-file; 2: bad option or unreadable file)',
    )
    .option('-n, --namespace <ns>', 'namespace to install into', 'herald-system')
    .option('--name <name>', 'prefix of the object names (the Helm release name)', 'herald')
    .option('--image-repository <repo>', 'container image repository')
    .option('--image-tag <tag>', 'container image tag (default: this version)')
    .option('--image-pull-policy <policy>', `image pull policy: ${PULL_POLICIES.join(', ')}`)
    .option('--log-level <level>', `daemons' log level: ${LOG_LEVELS.join(', ')} (default: info)`)
    .option('--lb-class <class>', 'handle only Services with this spec.loadBalancerClass')
    .option('--controller-replicas <n>', 'controller replicas (leader election picks the one that writes; default: 2)')
    .option('--config-file <path>', 'put this config (a ConfigMap manifest or a bare MetalLB-format config; "-" reads stdin) into the ConfigMap; default: an empty config')
    .option('--existing-config-map <name>', 'use this existing ConfigMap (key `config`) instead of creating one')
    .option('--config-source <source>', 'where the daemons read the config: configmap (default) or crds (the metallb.io objects of the namespace; no ConfigMap, and the Roles may read basic-auth Secrets for BGPPeer passwords)')
    .option('--no-service-status', 'no ServiceL2Status/ServiceBGPStatus objects (speaker --service-status=off, and no RBAC for them)')
    .option('--bgp-passive', 'the speaker also accepts BGP connections from its peers on port 179 (speaker --bgp-listen, adds NET_BIND_SERVICE)')
    .option('--interface <name>', 'layer2: the speaker serves exactly this interface; repeat for more', collect)
    .option('--exclude-interface <regex>', 'layer2: the speaker never serves matching interfaces; repeat for more (replaces its default list)', collect)
    .option('--graceful-restart <seconds>', 'BGP graceful restart time the speaker offers (0: off)')
    .option('--pod-monitor', 'add a PodMonitor (needs the Prometheus Operator CRDs)')
    .option('--prometheus-rule', 'add a PrometheusRule with Herald\'s alerts (needs the Prometheus Operator CRDs)')
    .option('--controller-lease-duration <duration>', 'controller --lease-duration: the leader Lease duration (default: the daemon\'s, 15s)')
    .option('--speaker-lease-renew <duration>', 'speaker --lease-renew: how often each speaker renews its Lease (default: the daemon\'s, 10s with liveness, 1s without)')
    .option('--speaker-lease-duration <duration>', 'speaker --lease-duration: a speaker is dead to the others after this long without a renewal (default: the daemon\'s, 30s with liveness, 3s without)')
    .option('--no-liveness', 'speakers without the liveness protocol (crashes detected by the Lease alone: renew 1s, duration 3s)')
    .option('--liveness-port <port>', 'UDP port of the speakers\' liveness protocol on every node (default: 7947)')
    .option('--liveness-secret <base64>', 'the liveness Secret\'s value; default: a new random one, so pass the installed one when applying again (kubectl get secret <name>-liveness -o jsonpath={.data.secret})')
    .option('--controller-extra-arg <arg>', 'another controller flag, e.g. --controller-extra-arg=--services-namespace=apps; repeat for more', collect)
    .option('--speaker-extra-arg <arg>', 'another speaker flag; repeat for more', collect)
    .option('--controller-priority-class <name>', 'priorityClassName of the controller pods')
    .option('--speaker-priority-class <name>', 'priorityClassName of the speaker pods (e.g. system-node-critical)')
    .option('--kube-version <version>', 'Kubernetes version of the target cluster, MAJOR.MINOR: below 1.21 the PodDisruptionBudget is policy/v1beta1 (default: policy/v1)')
    .option('--no-crds', 'leave out the metallb.io CustomResourceDefinitions (e.g. MetalLB\'s are installed already)')
    .option('--no-rbac', 'leave out the ClusterRoles, Roles and their bindings (RBAC managed elsewhere)')
    .option('--no-namespace-object', 'leave out the Namespace object (e.g. when the namespace is managed elsewhere)')
    .action((opts: ManifestsOpts, cmd: Command) => {
      let values: HeraldValues;
      try {
        checkFlags(opts);
      } catch (e) {
        if (!(e instanceof FlagError)) throw e;
        cmd.error(e.message, { exitCode: 2 });
      }
      try {
        values = valuesFromOptions(opts, (path) => {
          try {
            return readFileSync(path === '-' ? 0 : path, 'utf8');
          } catch (e) {
            cmd.error(`--config-file: cannot read ${path}: ${(e as Error).message}`, { exitCode: 2 });
          }
        });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(`herald manifests: --config-file is not a valid config:\n${e.message}\n`);
        process.exitCode = 1;
        return;
      }
      const release = {
        name: opts.name,
        namespace: opts.namespace,
        version: cmd.parent?.version() ?? '0.0.0',
        ...(opts.kubeVersion ? { kubeVersion: opts.kubeVersion } : {}),
        ...(opts.livenessSecret ? { livenessSecret: opts.livenessSecret } : {}),
      };
      process.stdout.write(toYamlStream([...(opts.crds ? crdObjects() : []), ...installManifests(values, release)]));
    });
}
