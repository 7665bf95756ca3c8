// The install as Kubernetes objects: what `herald manifests` prints and what the Helm chart in
// charts/herald/ renders. Both take the same values (HeraldValues mirrors charts/herald/values.yaml;
// test/unit/chart/ renders the chart with the real helm and compares the objects with installManifests()).
// RBAC is least privilege: exactly the API calls kube/ makes for each daemon, nothing more.
import { randomBytes } from 'node:crypto';
import yaml from 'js-yaml';
import { CR_KINDS, CRD_GROUP, STATUS_PLURALS } from './crds.js';

export type PullPolicy = 'IfNotPresent' | 'Always' | 'Never';

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface DaemonValues {
  metricsPort: number;
  /** More daemon flags, appended after the chart's own (e.g. `--services-namespace=x`). */
  extraArgs: string[];
  /** create: make the ServiceAccount; name: its name (empty: <fullname>-<daemon>, or `default` when not created). */
  serviceAccount: { create: boolean; name: string };
  priorityClassName: string;
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  /** Container resources (requests/limits), passed through as is. */
  resources: Record<string, unknown>;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** Pod affinity, passed through as is (controller, when empty: preferred anti-affinity by hostname). */
  affinity: Record<string, unknown>;
}

/** The chart's values (charts/herald/values.yaml holds the defaults, defaultValues() the same). */
export interface HeraldValues {
  /** The app.kubernetes.io/name label (and selectors); empty: herald. */
  nameOverride: string;
  /** Prefix of every object name; empty: the release name ("herald" for plain manifests). */
  fullnameOverride: string;
  image: { repository: string; /** empty: the chart's appVersion */ tag: string; pullPolicy: PullPolicy };
  imagePullSecrets: { name: string }[];
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Handle only Services with this spec.loadBalancerClass; empty: only Services without one. */
  loadBalancerClass: string;
  /** The configuration (MetalLB legacy format) put into the ConfigMap this install creates. */
  configInline: Record<string, unknown>;
  /** Use this existing ConfigMap (key `config`) instead of creating one from configInline. */
  existingConfigMap: string;
  /** `--config-source`: the ConfigMap, or the metallb.io objects of the release namespace (no ConfigMap rendered then). */
  configSource: 'configmap' | 'crds';
  /** Also render the release Namespace with the Pod Security labels the speaker needs (privileged). */
  namespaceObject: boolean;
  rbac: { create: boolean };
  controller: DaemonValues & {
    replicas: number;
    leaderElect: boolean;
    /** --lease-duration of the leader Lease (Go duration; empty: the daemon's default, 15s). */
    leaseDuration: string;
    /** A PodDisruptionBudget keeping minAvailable controllers up, rendered when replicas > 1. */
    podDisruptionBudget: { enabled: boolean; minAvailable: number };
  };
  speaker: DaemonValues & {
    /** --lease-renew and --lease-duration of the speakers' membership Leases (empty: 1s and 3s). */
    leaseRenew: string;
    leaseDuration: string;
    /** The speaker also accepts BGP connections from its peers on port 179 (`--bgp-listen`, with NET_BIND_SERVICE). */
    bgpPassive: boolean;
    /** layer2: serve exactly these interfaces (empty: every eligible one). */
    interfaces: string[];
    /** layer2: never serve interfaces matching these regexes (empty: the speaker's default list). */
    excludeInterfaces: string[];
    /** BGP graceful restart time offered to peers, seconds (0: off). */
    gracefulRestart: number;
    /** Speaker-to-speaker liveness (UDP `port` on the node's IP, secret in the Secret <fullname>-liveness). */
    liveness: { enabled: boolean; port: number };
    /** ServiceL2Status / ServiceBGPStatus objects for the Services each node announces (`--service-status`). */
    serviceStatus: boolean;
  };
  podMonitor: { enabled: boolean; interval: string; /** e.g. the `release` label kube-prometheus-stack selects on */ additionalLabels: Record<string, string> };
  prometheusRule: {
    enabled: boolean;
    /** Alert when a pool's in-use fraction exceeds this (0..1). */
    poolUsageThreshold: number;
    additionalLabels: Record<string, string>;
  };
}

export interface Release {
  name: string;
  namespace: string;
  /** Chart appVersion (= package version): image tag default and version label. */
  version: string;
  /**
   * The liveness Secret's value (base64 of the shared secret). Default: a new random one (helm keeps
   * the installed one on upgrade by looking it up; plain manifests cannot).
   */
  livenessSecret?: string;
  /** Target Kubernetes version ("1.20"; Helm: .Capabilities.KubeVersion); picks the PodDisruptionBudget API. Default: current. */
  kubeVersion?: string;
}

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

/** Defaults, identical to charts/herald/values.yaml (a unit test holds them equal). */
export function defaultValues(): HeraldValues {
  const daemon = (): Omit<DaemonValues, 'metricsPort' | 'tolerations'> => ({
    extraArgs: [],
    serviceAccount: { create: true, name: '' },
    priorityClassName: '',
    podAnnotations: {},
    podLabels: {},
    resources: {},
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    affinity: {},
  });
  return {
    nameOverride: '',
    fullnameOverride: '',
    image: { repository: 'ghcr.io/herald-lb/herald', tag: '', pullPolicy: 'IfNotPresent' },
    imagePullSecrets: [],
    logLevel: 'info',
    loadBalancerClass: '',
    configInline: {},
    existingConfigMap: '',
    configSource: 'configmap',
    namespaceObject: false,
    rbac: { create: true },
    controller: {
      replicas: 2,
      leaderElect: true,
      leaseDuration: '',
      metricsPort: 7472,
      podDisruptionBudget: { enabled: true, minAvailable: 1 },
      ...daemon(),
      tolerations: [],
    },
    speaker: {
      metricsPort: 7473,
      bgpPassive: false,
      interfaces: [],
      excludeInterfaces: [],
      gracefulRestart: 0,
      leaseRenew: '',
      leaseDuration: '',
      liveness: { enabled: true, port: LIVENESS_PORT },
      serviceStatus: true,
      ...daemon(),
      tolerations: [
        { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
        { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
      ],
    },
    podMonitor: { enabled: false, interval: '30s', additionalLabels: {} },
    prometheusRule: { enabled: false, poolUsageThreshold: 0.9, additionalLabels: {} },
  };
}

/** The controller's leader-election Lease (controller/controller.ts names it so). */
export const CONTROLLER_LEASE = 'herald-controller';

const RBAC = 'rbac.authorization.k8s.io/v1';
const READ = ['get', 'list', 'watch'];

/**
 * What the controller needs cluster-wide: Services (patch: the metallb.io/ip-allocated-from-pool
 * annotation) and their status, Namespaces (their labels choose
 * address pools: IPAddressPool serviceAllocation.namespaceSelectors), Events (both APIs: kube/events.ts
 * falls back to core v1).
 */
function controllerClusterRules(): Record<string, unknown>[] {
  return [
    { apiGroups: [''], resources: ['services'], verbs: [...READ, 'patch'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: READ },
    { apiGroups: [''], resources: ['services/status'], verbs: ['update', 'patch'] },
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  ];
}

/**
 * ...and in its own namespace: its ConfigMap, and only its own leader Lease (create cannot be limited
 * by name). A standby watches the Lease (list/watch with a metadata.name field selector, which RBAC
 * matches against resourceNames) to see the leader's renewals.
 */
function controllerNamespaceRules(v: HeraldValues): Record<string, unknown>[] {
  return [
    { apiGroups: [''], resources: ['configmaps'], verbs: READ },
    ...configObjectRules(v),
    // The counts in the IPAddressPools' status (crds source: the pools are those objects).
    ...(v.configSource === 'crds' ? [{ apiGroups: [CRD_GROUP], resources: ['ipaddresspools/status'], verbs: ['patch'] }] : []),
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [CONTROLLER_LEASE], verbs: ['get', 'list', 'watch', 'update'] },
    // Its ConfigurationState (kube/configuration-state.ts): create cannot be limited by name, the rest can.
    { apiGroups: [CRD_GROUP], resources: [STATUS_PLURALS.configurationStates], verbs: ['create'] },
    { apiGroups: [CRD_GROUP], resources: [STATUS_PLURALS.configurationStates, `${STATUS_PLURALS.configurationStates}/status`], resourceNames: ['controller'], verbs: ['get', 'update'] },
  ];
}

/**
 * The metallb.io objects of the namespace, read whichever source is active (kube/config-source.ts:
 * a config in both is refused); with the crds source also Secrets, for BGPPeer passwordSecret (the
 * daemons list only type kubernetes.io/basic-auth, which RBAC cannot express).
 */
function configObjectRules(v: HeraldValues): Record<string, unknown>[] {
  return [
    { apiGroups: [CRD_GROUP], resources: CR_KINDS.map((k) => k.plural), verbs: READ },
    ...(v.configSource === 'crds' ? [{ apiGroups: [''], resources: ['secrets'], verbs: READ }] : []),
  ];
}

/**
 * The speaker reads Services, Nodes and endpoints (EndpointSlices, or core Endpoints where
 * kube/endpoints.ts finds no EndpointSlice API) cluster-wide and writes Events.
 */
function speakerClusterRules(): Record<string, unknown>[] {
  return [
    { apiGroups: [''], resources: ['services', 'endpoints', 'nodes'], verbs: READ },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  ];
}

/** ...and in its namespace the ConfigMap and the per-node membership Leases (its own and the others'). */
function speakerNamespaceRules(v: HeraldValues): Record<string, unknown>[] {
  return [
    { apiGroups: [''], resources: ['configmaps'], verbs: READ },
    ...configObjectRules(v),
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'get', 'list', 'watch', 'update', 'delete'] },
    // Its ConfigurationState speaker-<node> (one Role for every node: not limited by name).
    { apiGroups: [CRD_GROUP], resources: [STATUS_PLURALS.configurationStates], verbs: ['get', 'create'] },
    { apiGroups: [CRD_GROUP], resources: [`${STATUS_PLURALS.configurationStates}/status`], verbs: ['update'] },
    // The ServiceL2Status/ServiceBGPStatus objects of its node (listed by label at start); every
    // node's ServiceL2Status watched: who holds which layer2 Service (no flap back).
    ...(v.speaker.serviceStatus
      ? [
          { apiGroups: [CRD_GROUP], resources: [STATUS_PLURALS.serviceL2Statuses, STATUS_PLURALS.serviceBgpStatuses], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
          { apiGroups: [CRD_GROUP], resources: [`${STATUS_PLURALS.serviceL2Statuses}/status`, `${STATUS_PLURALS.serviceBgpStatuses}/status`], verbs: ['update'] },
        ]
      : []),
  ];
}

export function fullname(values: HeraldValues, release: Release): string {
  return values.fullnameOverride || release.name;
}

/** The app.kubernetes.io/name label. */
export function appName(values: HeraldValues): string {
  return values.nameOverride || 'herald';
}

export function configMapName(values: HeraldValues, release: Release): string {
  return values.existingConfigMap || `${fullname(values, release)}-config`;
}

/** The ServiceAccount a daemon runs as: the named one, else <fullname>-<daemon> when created, else `default`. */
export function serviceAccountName(values: HeraldValues, release: Release, component: 'controller' | 'speaker'): string {
  const sa = values[component].serviceAccount;
  return sa.name || (sa.create ? `${fullname(values, release)}-${component}` : 'default');
}

/** policy/v1 PodDisruptionBudget is served from Kubernetes 1.21; 1.20 has only policy/v1beta1. */
export function podDisruptionBudgetApiVersion(kubeVersion: string | undefined): string {
  const m = kubeVersion === undefined ? null : /^v?(\d+)\.(\d+)/.exec(kubeVersion);
  if (kubeVersion !== undefined && !m) throw new Error(`kube version: expected MAJOR.MINOR, got ${JSON.stringify(kubeVersion)}`);
  return m && Number(m[1]) === 1 && Number(m[2]) < 21 ? 'policy/v1beta1' : 'policy/v1';
}

/** The ConfigMap's `config` text: the inline config as YAML, keys sorted (as Helm's toYaml does). */
export function configText(config: Record<string, unknown>): string {
  return yaml.dump(config, { sortKeys: true, lineWidth: -1, noRefs: true });
}

function labels(v: HeraldValues, release: Release, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': appName(v),
    'app.kubernetes.io/instance': release.name,
    'app.kubernetes.io/version': release.version,
    ...(component ? { 'app.kubernetes.io/component': component } : {}),
  };
}

function selector(v: HeraldValues, release: Release, component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': appName(v), 'app.kubernetes.io/instance': release.name, 'app.kubernetes.io/component': component };
}

function meta(v: HeraldValues, name: string, release: Release, component?: string, namespaced = true): KubeObject['metadata'] {
  return { name, ...(namespaced ? { namespace: release.namespace } : {}), labels: labels(v, release, component) };
}

function rbac(
  v: HeraldValues,
  release: Release,
  component: 'controller' | 'speaker',
  clusterRules: Record<string, unknown>[],
  nsRules: Record<string, unknown>[],
): KubeObject[] {
  const name = `${fullname(v, release)}-${component}`;
  const sa = serviceAccountName(v, release, component);
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: release.namespace }];
  return [
    ...(v[component].serviceAccount.create ? [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(v, sa, release, component) }] : []),
    ...(v.rbac.create
      ? [
          { apiVersion: RBAC, kind: 'ClusterRole', metadata: meta(v, name, release, component, false), rules: clusterRules },
          {
            apiVersion: RBAC,
            kind: 'ClusterRoleBinding',
            metadata: meta(v, name, release, component, false),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
            subjects,
          },
          { apiVersion: RBAC, kind: 'Role', metadata: meta(v, name, release, component), rules: nsRules },
          { apiVersion: RBAC, kind: 'RoleBinding', metadata: meta(v, name, release, component), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects },
        ]
      : []),
  ];
}

function env(withPodName: boolean): Record<string, unknown>[] {
  return [
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    withPodName
      ? { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }
      : { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
}

function probes(): Record<string, unknown> {
  return {
    livenessProbe: { httpGet: { path: '/healthz', port: 'monitoring' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/readyz', port: 'monitoring' }, periodSeconds: 5, failureThreshold: 3 },
  };
}

/** The pod template's metadata: the chart's labels over podLabels (the schema refuses app.kubernetes.io/ keys there), podAnnotations. */
function podMeta(v: HeraldValues, release: Release, component: 'controller' | 'speaker'): Record<string, unknown> {
  const d = v[component];
  return {
    labels: { ...d.podLabels, ...labels(v, release, component) },
    ...(Object.keys(d.podAnnotations).length ? { annotations: d.podAnnotations } : {}),
  };
}

function podSpecCommon(v: HeraldValues, release: Release, component: 'controller' | 'speaker', affinity: Record<string, unknown>): Record<string, unknown> {
  const d = v[component];
  return {
    serviceAccountName: serviceAccountName(v, release, component),
    ...(d.priorityClassName ? { priorityClassName: d.priorityClassName } : {}),
    ...(v.imagePullSecrets.length ? { imagePullSecrets: v.imagePullSecrets } : {}),
    nodeSelector: d.nodeSelector,
    ...(d.tolerations.length ? { tolerations: d.tolerations } : {}),
    ...(Object.keys(affinity).length ? { affinity } : {}),
  };
}

/** Two controllers on one node die together: prefer spreading them by hostname (the user's affinity replaces this). */
function controllerAffinity(v: HeraldValues, release: Release): Record<string, unknown> {
  if (Object.keys(v.controller.affinity).length) return v.controller.affinity;
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector(v, release, 'controller') } } },
      ],
    },
  };
}

function controllerObjects(v: HeraldValues, release: Release, image: string, cm: string): KubeObject[] {
  const name = `${fullname(v, release)}-controller`;
  const c = v.controller;
  const args = [
    'controller',
    '--namespace=$(POD_NAMESPACE)',
    `--config-map=${cm}`,
    ...(v.configSource === 'crds' ? ['--config-source=crds'] : []),
    `--leader-elect=${c.leaderElect}`,
    ...(c.leaseDuration ? [`--lease-duration=${c.leaseDuration}`] : []),
    `--metrics-address=:${c.metricsPort}`,
    `--log-level=${v.logLevel}`,
    ...(v.loadBalancerClass ? [`--lb-class=${v.loadBalancerClass}`] : []),
    ...c.extraArgs,
  ];
  const pdb: KubeObject[] =
    c.podDisruptionBudget.enabled && c.replicas > 1
      ? [
          {
            apiVersion: podDisruptionBudgetApiVersion(release.kubeVersion),
            kind: 'PodDisruptionBudget',
            metadata: meta(v, name, release, 'controller'),
            spec: { minAvailable: c.podDisruptionBudget.minAvailable, selector: { matchLabels: selector(v, release, 'controller') } },
          },
        ]
      : [];
  return [
    ...rbac(v, release, 'controller', controllerClusterRules(), controllerNamespaceRules(v)),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(v, name, release, 'controller'),
      spec: {
        replicas: c.replicas,
        selector: { matchLabels: selector(v, release, 'controller') },
        template: {
          metadata: podMeta(v, release, 'controller'),
          spec: {
            ...podSpecCommon(v, release, 'controller', controllerAffinity(v, release)),
            // The image's `node` user; no capability, nothing written to the image.
            securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'controller',
                image,
                imagePullPolicy: v.image.pullPolicy,
                args,
                env: env(true),
                ports: [{ name: 'monitoring', containerPort: c.metricsPort, protocol: 'TCP' }],
                ...probes(),
                resources: c.resources,
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    },
    ...pdb,
    metricsService(v, `${name}-metrics`, release, 'controller', c.metricsPort),
  ];
}

/**
 * How the speaker's Node runs (the image's entry point, /app/dist/cli/herald.js, with V8 flags):
 * a 1 MB young generation and a tightly grown old one keep a speaker with 10,000 Services under
 * 100 MB RSS instead of ~200 MB (test/bench/speaker.bench.ts). NODE_OPTIONS cannot carry
 * --optimize-for-size, hence the explicit command.
 */
export const SPEAKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];
/** glibc malloc arenas: the default (8 per core) costs the speaker ~8 MB RSS for nothing. */
export const SPEAKER_MALLOC_ARENA_MAX = '2';

/** The liveness UDP port: not 7946, which MetalLB's memberlist uses on the same host network. */
export const LIVENESS_PORT = 7947;
/** Where the speaker reads the liveness secret (the Secret mounted as a volume). */
const LIVENESS_DIR = '/etc/herald/liveness';

/** 48 random letters and digits, base64 (what the chart's `randAlphaNum 48 | b64enc` makes). */
export function randomLivenessSecret(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < 48) {
    for (const b of randomBytes(64)) if (b < 248 && out.length < 48) out += alphabet[b % 62];
  }
  return Buffer.from(out).toString('base64');
}

function speakerObjects(v: HeraldValues, release: Release, image: string, cm: string): KubeObject[] {
  const name = `${fullname(v, release)}-speaker`;
  const s = v.speaker;
  const live = s.liveness.enabled;
  const secretName = `${fullname(v, release)}-liveness`;
  const args = [
    'speaker',
    '--node-name=$(NODE_NAME)',
    '--namespace=$(POD_NAMESPACE)',
    `--config-map=${cm}`,
    ...(v.configSource === 'crds' ? ['--config-source=crds'] : []),
    `--metrics-address=:${s.metricsPort}`,
    `--log-level=${v.logLevel}`,
    ...(v.loadBalancerClass ? [`--lb-class=${v.loadBalancerClass}`] : []),
    ...(s.leaseRenew ? [`--lease-renew=${s.leaseRenew}`] : []),
    ...(s.leaseDuration ? [`--lease-duration=${s.leaseDuration}`] : []),
    ...(live ? [`--liveness-port=${s.liveness.port}`, '--liveness-address=$(HOST_IP)', `--liveness-secret-file=${LIVENESS_DIR}/secret`] : []),
    ...s.interfaces.map((i) => `--interface=${i}`),
    ...s.excludeInterfaces.map((x) => `--exclude-interface=${x}`),
    ...(s.gracefulRestart > 0 ? [`--graceful-restart=${s.gracefulRestart}`] : []),
    ...(s.bgpPassive ? ['--bgp-listen'] : []),
    ...(s.serviceStatus ? [] : ['--service-status=off']),
    ...s.extraArgs,
  ];
  const secret: KubeObject[] = live
    ? [{ apiVersion: 'v1', kind: 'Secret', metadata: meta(v, secretName, release, 'speaker'), type: 'Opaque', data: { secret: release.livenessSecret ?? randomLivenessSecret() } }]
    : [];
  return [
    ...rbac(v, release, 'speaker', speakerClusterRules(), speakerNamespaceRules(v)),
    ...secret,
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta(v, name, release, 'speaker'),
      spec: {
        selector: { matchLabels: selector(v, release, 'speaker') },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: podMeta(v, release, 'speaker'),
          spec: {
            ...podSpecCommon(v, release, 'speaker', s.affinity),
            // ARP/NDP answers and BGP sessions come from the node's own interfaces and addresses.
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'speaker',
                image,
                imagePullPolicy: v.image.pullPolicy,
                command: ['node', ...SPEAKER_NODE_FLAGS, '/app/dist/cli/herald.js'],
                args,
                env: [
                  ...env(false),
                  // The speaker Pod owns its ServiceL2Status/ServiceBGPStatus objects (deleted with it).
                  { name: 'HERALD_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'HERALD_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
                  { name: 'MALLOC_ARENA_MAX', value: SPEAKER_MALLOC_ARENA_MAX },
                  // The node's address: the liveness socket binds it (host network).
                  ...(live ? [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }] : []),
                ],
                ports: [
                  { name: 'monitoring', containerPort: s.metricsPort, protocol: 'TCP' },
                  ...(live ? [{ name: 'liveness', containerPort: s.liveness.port, protocol: 'UDP' }] : []),
                ],
                ...(live ? { volumeMounts: [{ name: 'liveness-secret', mountPath: LIVENESS_DIR, readOnly: true }] } : {}),
                ...probes(),
                resources: s.resources,
                securityContext: {
                  // uid 0 but only NET_RAW (AF_PACKET sockets for ARP/NDP): Kubernetes gives added
                  // capabilities to root only (no ambient capabilities for non-root users).
                  runAsUser: 0,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'], add: s.bgpPassive ? ['NET_RAW', 'NET_BIND_SERVICE'] : ['NET_RAW'] },
                },
              },
            ],
            ...(live ? { volumes: [{ name: 'liveness-secret', secret: { secretName, defaultMode: 0o400 } }] } : {}),
          },
        },
      },
    },
    metricsService(v, `${name}-metrics`, release, 'speaker', s.metricsPort),
  ];
}

function metricsService(v: HeraldValues, name: string, release: Release, component: string, port: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(v, name, release, component),
    spec: { clusterIP: 'None', selector: selector(v, release, component), ports: [{ name: 'monitoring', port, targetPort: 'monitoring', protocol: 'TCP' }] },
  };
}

/** Monitoring objects carry additionalLabels (kube-prometheus-stack selects them by e.g. `release`) under the chart's own. */
function monitoringMeta(v: HeraldValues, release: Release, extra: Record<string, string>): KubeObject['metadata'] {
  const m = meta(v, fullname(v, release), release);
  return { ...m, labels: { ...extra, ...m.labels } };
}

function monitoringObjects(v: HeraldValues, release: Release): KubeObject[] {
  const out: KubeObject[] = [];
  if (v.podMonitor.enabled) {
    out.push({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: monitoringMeta(v, release, v.podMonitor.additionalLabels),
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': appName(v), 'app.kubernetes.io/instance': release.name } },
        podMetricsEndpoints: [{ port: 'monitoring', path: '/metrics', interval: v.podMonitor.interval }],
      },
    });
  }
  if (v.prometheusRule.enabled) {
    out.push({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: monitoringMeta(v, release, v.prometheusRule.additionalLabels),
      spec: {
        groups: [
          {
            name: 'herald',
            rules: [
              {
                alert: 'HeraldConfigStale',
                expr: 'max by (namespace, pod) (herald_config_stale) == 1',
                for: '5m',
                labels: { severity: 'warning' },
                annotations: { summary: 'Herald runs on an old config: the current ConfigMap is invalid, refused as breaking, or deleted (see the ConfigMap\'s events).' },
              },
              {
                alert: 'HeraldPoolNearlyExhausted',
                expr: `max by (pool) (herald_allocator_addresses_in_use_total / herald_allocator_addresses_total) > ${v.prometheusRule.poolUsageThreshold}`,
                for: '5m',
                labels: { severity: 'warning' },
                annotations: { summary: 'Address pool {{ $labels.pool }} is nearly exhausted.' },
              },
              {
                alert: 'HeraldBGPSessionDown',
                expr: 'herald_bgp_session_up == 0',
                for: '2m',
                labels: { severity: 'critical' },
                annotations: { summary: 'BGP session of {{ $labels.pod }} to {{ $labels.peer }} is down.' },
              },
            ],
          },
        ],
      },
    });
  }
  return out;
}

/**
 * The release Namespace (with namespaceObject). The speaker needs hostNetwork and NET_RAW, which
 * Pod Security "baseline" forbids: label it privileged.
 */
export function namespaceObject(v: HeraldValues, release: Release): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: release.namespace,
      labels: {
        ...labels(v, release),
        'pod-security.kubernetes.io/enforce': 'privileged',
        'pod-security.kubernetes.io/audit': 'privileged',
        'pod-security.kubernetes.io/warn': 'privileged',
      },
    },
  };
}

/** Every object of the install, in apply order (Namespace, then RBAC before the workloads that use it). */
export function installManifests(v: HeraldValues, release: Release): KubeObject[] {
  const image = `${v.image.repository}:${v.image.tag || release.version}`;
  const cm = configMapName(v, release);
  const config: KubeObject[] = v.existingConfigMap || v.configSource === 'crds'
    ? []
    : [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(v, cm, release), data: { config: configText(v.configInline) } }];
  return [
    ...(v.namespaceObject ? [namespaceObject(v, release)] : []),
    ...config,
    ...controllerObjects(v, release, image, cm),
    ...speakerObjects(v, release, image, cm),
    ...monitoringObjects(v, release),
  ];
}

/** Objects as one multi-document YAML stream for `kubectl apply -f`. */
export function toYamlStream(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${yaml.dump(o, { lineWidth: -1, noRefs: true })}`).join('');
}
