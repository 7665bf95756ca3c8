// MetalLB's configuration CustomResourceDefinitions (group metallb.io), written for Herald: the same
// kinds, versions, plural names and field names as MetalLB v0.13-v0.15, so a cluster that has MetalLB's
// CRDs (and objects) keeps them, and ours can be applied over theirs. The structural schemas make the
// API server check types on apply; config/crs/ checks the values. charts/herald/crds/metallb.io.yaml
// holds these objects (test/unit/chart/crds.test.ts keeps the two equal).
import type { KubeObject } from './manifests.js';

export const CRD_GROUP = 'metallb.io';

type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const int = (minimum: number, maximum: number, description?: string): Schema => ({
  type: 'integer',
  format: maximum > 2147483647 ? 'int64' : 'int32',
  minimum,
  maximum,
  ...(description ? { description } : {}),
});
const list = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });
const object = (properties: Record<string, Schema>, required: string[] = [], description?: string): Schema => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
  ...(description ? { description } : {}),
});

/** A metav1.LabelSelector. */
const labelSelector: Schema = object({
  matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
  matchExpressions: list(object({ key: str(), operator: str(), values: list(str()) }, ['key', 'operator'])),
});
const selectors = (what: string): Schema => list(labelSelector, what);

const ipAddressPoolSpec = object(
  {
    addresses: list(str(), 'CIDRs (203.0.113.0/24) or ranges (203.0.113.10-203.0.113.20) the pool hands out.'),
    autoAssign: { ...bool('Whether Services get addresses from this pool without asking for it.'), default: true },
    avoidBuggyIPs: { ...bool('Skip .0 and .255 addresses.'), default: false },
    serviceAllocation: object(
      {
        priority: { type: 'integer', format: 'int32', description: 'Lower numbers are tried first.' },
        namespaces: list(str()),
        namespaceSelectors: selectors('Namespaces whose Services may use the pool.'),
        serviceSelectors: selectors('Services that may use the pool.'),
      },
      [],
      'Which Services may get addresses from this pool (unset: any).',
    ),
  },
  ['addresses'],
);
const ipAddressPoolStatus = object({
  assignedIPv4: { type: 'integer', format: 'int64' },
  assignedIPv6: { type: 'integer', format: 'int64' },
  availableIPv4: { type: 'integer', format: 'int64' },
  availableIPv6: { type: 'integer', format: 'int64' },
});

const poolRefs = {
  ipAddressPools: list(str(), 'Names of the pools announced (none and no selectors: every pool).'),
  ipAddressPoolSelectors: selectors('Labels of the pools announced.'),
  nodeSelectors: selectors('Nodes that announce (none: every node).'),
};

const l2AdvertisementSpec = object({ ...poolRefs, interfaces: list(str(), 'Interfaces to announce on (none: every eligible one).') });

const bgpAdvertisementSpec = object({
  aggregationLength: { ...int(0, 32), default: 32 },
  aggregationLengthV6: { ...int(0, 128), default: 128 },
  localPref: int(0, 4294967295),
  communities: list(str(), 'Community literals ("64512:100", "large:1:2:3") or names from Community objects.'),
  ...poolRefs,
  peers: list(str(), 'Names of the BGPPeers to announce to (none: every peer).'),
});

const communitySpec = object({ communities: list(object({ name: str(), value: str() })) });

const bfdProfileSpec = object({
  receiveInterval: int(10, 60000),
  transmitInterval: int(10, 60000),
  detectMultiplier: int(2, 255),
  echoInterval: int(10, 60000),
  echoMode: bool(),
  passiveMode: bool(),
  minimumTtl: int(1, 254),
});

const bgpPeerSpec = object(
  {
    myASN: int(0, 4294967295),
    peerASN: int(0, 4294967295),
    dynamicASN: { type: 'string', enum: ['internal', 'external'] },
    peerAddress: str(),
    sourceAddress: str(),
    peerPort: { ...int(0, 16384), default: 179 },
    holdTime: str('A duration: "90s", "3m".'),
    keepaliveTime: str(),
    connectTime: str(),
    routerID: str(),
    nodeSelectors: selectors('Nodes that open this session (none: every node).'),
    password: str(),
    passwordSecret: object({ name: str(), namespace: str() }, [], 'A Secret of type kubernetes.io/basic-auth holding the password.'),
    bfdProfile: str(),
    enableGracefulRestart: bool(),
    ebgpMultiHop: bool(),
    vrf: str(),
    disableMP: { ...bool(), default: false },
    interface: str('Unnumbered peering (RFC 8950): the interface whose router is the peer, instead of peerAddress.'),
  },
  // peerAddress or interface: the config compiler says which is missing.
  ['myASN'],
);

interface Kind {
  kind: string;
  plural: string;
  /** Undefined: a status-only kind (ConfigurationState), no spec. */
  spec?: Schema;
  status?: Schema;
  columns: { name: string; jsonPath: string; type: string }[];
}

// The status kinds (MetalLB v0.14+): written by the daemons, read by operators. MetalLB's fields; the
// daemons never read them back except to compare before writing (speaker/status-objects.ts,
// kube/configuration-state.ts).
const serviceStatusFields = {
  node: str('The node announcing the Service.'),
  serviceName: str('The Service this status is about.'),
  serviceNamespace: str('The namespace of the Service.'),
};
const serviceL2Status = object({ ...serviceStatusFields, interfaces: list(object({ name: str() }), 'Interfaces the node answers ARP/NDP on for the Service.') });
const serviceBgpStatus = object({ ...serviceStatusFields, peers: list(str(), 'BGP peers this node advertises the Service to (when their sessions are up).') });
const configurationStateStatus = object({
  result: { type: 'string', enum: ['Valid', 'Invalid', 'Unknown'], description: 'Valid: the objects as they are now are the config in force.' },
  lastError: str('Why the objects as they are now are not in force (empty when Valid).'),
  configHash: str('The config in force (the hash in the daemons\' logs and herald_config_generation).'),
  conditions: list(
    object(
      {
        type: str(),
        status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
        reason: str(),
        message: str(),
        lastTransitionTime: { type: 'string', format: 'date-time' },
        observedGeneration: { type: 'integer', format: 'int64' },
      },
      ['type', 'status'],
    ),
  ),
});
/** The status kinds' spec: no fields, and no empty properties map (the API server drops it, and helm
 *  v4's server-side apply of crds/ then conflicts with the same CRDs an earlier kubectl apply created). */
const NO_SPEC: Schema = { type: 'object' };

const STATUS_KINDS: Kind[] = [
  {
    kind: 'ConfigurationState',
    plural: 'configurationstates',
    status: configurationStateStatus,
    columns: [
      { name: 'Result', jsonPath: '.status.result', type: 'string' },
      { name: 'Config', jsonPath: '.status.configHash', type: 'string' },
      { name: 'LastError', jsonPath: '.status.lastError', type: 'string' },
    ],
  },
  {
    kind: 'ServiceBGPStatus',
    plural: 'servicebgpstatuses',
    spec: NO_SPEC,
    status: serviceBgpStatus,
    columns: [
      { name: 'Node', jsonPath: '.status.node', type: 'string' },
      { name: 'Service Name', jsonPath: '.status.serviceName', type: 'string' },
      { name: 'Service Namespace', jsonPath: '.status.serviceNamespace', type: 'string' },
      { name: 'Peers', jsonPath: '.status.peers', type: 'string' },
    ],
  },
  {
    kind: 'ServiceL2Status',
    plural: 'servicel2statuses',
    spec: NO_SPEC,
    status: serviceL2Status,
    columns: [
      { name: 'Allocated Node', jsonPath: '.status.node', type: 'string' },
      { name: 'Service Name', jsonPath: '.status.serviceName', type: 'string' },
      { name: 'Service Namespace', jsonPath: '.status.serviceNamespace', type: 'string' },
      { name: 'Interfaces', jsonPath: '.status.interfaces[*].name', type: 'string' },
    ],
  },
];

const KINDS: Kind[] = [
  {
    kind: 'BFDProfile',
    plural: 'bfdprofiles',
    spec: bfdProfileSpec,
    columns: [
      { name: 'Passive Mode', jsonPath: '.spec.passiveMode', type: 'boolean' },
      { name: 'Transmit Interval', jsonPath: '.spec.transmitInterval', type: 'integer' },
      { name: 'Receive Interval', jsonPath: '.spec.receiveInterval', type: 'integer' },
      { name: 'Multiplier', jsonPath: '.spec.detectMultiplier', type: 'integer' },
    ],
  },
  {
    kind: 'BGPAdvertisement',
    plural: 'bgpadvertisements',
    spec: bgpAdvertisementSpec,
    columns: [
      { name: 'IPAddressPools', jsonPath: '.spec.ipAddressPools', type: 'string' },
      { name: 'IPAddressPool Selectors', jsonPath: '.spec.ipAddressPoolSelectors', type: 'string' },
      { name: 'Peers', jsonPath: '.spec.peers', type: 'string' },
    ],
  },
  { kind: 'BGPPeer', plural: 'bgppeers', spec: bgpPeerSpec, columns: [
    { name: 'Address', jsonPath: '.spec.peerAddress', type: 'string' },
    { name: 'ASN', jsonPath: '.spec.peerASN', type: 'string' },
    { name: 'BFD Profile', jsonPath: '.spec.bfdProfile', type: 'string' },
    { name: 'Multi Hops', jsonPath: '.spec.ebgpMultiHop', type: 'string' },
  ] },
  { kind: 'Community', plural: 'communities', spec: communitySpec, columns: [] },
  {
    kind: 'IPAddressPool',
    plural: 'ipaddresspools',
    spec: ipAddressPoolSpec,
    status: ipAddressPoolStatus,
    columns: [
      { name: 'Auto Assign', jsonPath: '.spec.autoAssign', type: 'boolean' },
      { name: 'Avoid Buggy IPs', jsonPath: '.spec.avoidBuggyIPs', type: 'boolean' },
      { name: 'Addresses', jsonPath: '.spec.addresses', type: 'string' },
    ],
  },
  {
    kind: 'L2Advertisement',
    plural: 'l2advertisements',
    spec: l2AdvertisementSpec,
    columns: [
      { name: 'IPAddressPools', jsonPath: '.spec.ipAddressPools', type: 'string' },
      { name: 'IPAddressPool Selectors', jsonPath: '.spec.ipAddressPoolSelectors', type: 'string' },
      { name: 'Interfaces', jsonPath: '.spec.interfaces', type: 'string' },
    ],
  },
];

/** The version each kind is stored as (MetalLB's): BGPPeer v1beta2, every other kind v1beta1. */
export function storageVersion(kind: string): string {
  return kind === 'BGPPeer' ? 'v1beta2' : 'v1beta1';
}

function version(k: Kind, name: string, storage: boolean): Record<string, unknown> {
  const root: Schema = object({ apiVersion: str(), kind: str(), metadata: { type: 'object' }, ...(k.spec ? { spec: k.spec } : {}), ...(k.status ? { status: k.status } : {}) });
  return {
    name,
    served: true,
    storage,
    ...(name === 'v1beta1' && k.kind === 'BGPPeer' ? { deprecated: true, deprecationWarning: 'metallb.io/v1beta1 BGPPeer is deprecated; use metallb.io/v1beta2' } : {}),
    ...(k.columns.length > 0 ? { additionalPrinterColumns: [...k.columns, { name: 'Age', jsonPath: '.metadata.creationTimestamp', type: 'date' }] } : {}),
    schema: { openAPIV3Schema: root },
    ...(k.status ? { subresources: { status: {} } } : {}),
  };
}

function crd(k: Kind): KubeObject {
  const singular = k.kind.toLowerCase();
  // BGPPeer v1beta1 is still served (MetalLB serves it, deprecated) so objects written as v1beta1 keep
  // working; both versions have the same fields, so no conversion webhook is needed.
  const versions = k.kind === 'BGPPeer' ? [version(k, 'v1beta1', false), version(k, 'v1beta2', true)] : [version(k, 'v1beta1', true)];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${CRD_GROUP}` },
    spec: {
      group: CRD_GROUP,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular },
      scope: 'Namespaced',
      versions,
    },
  } as KubeObject;
}

/** Every metallb.io CustomResourceDefinition (configuration and status kinds), in name order. */
export function crdObjects(): KubeObject[] {
  return [...KINDS, ...STATUS_KINDS].sort((a, b) => (a.plural < b.plural ? -1 : 1)).map(crd);
}

/** The status kinds' plural (resource) names, for RBAC. */
export const STATUS_PLURALS = {
  configurationStates: 'configurationstates',
  serviceL2Statuses: 'servicel2statuses',
  serviceBgpStatuses: 'servicebgpstatuses',
} as const;

/** The metallb.io configuration kinds with their plural (resource) names, for RBAC and informers. */
export const CR_KINDS: readonly { kind: string; plural: string }[] = KINDS.map((k) => ({ kind: k.kind, plural: k.plural }));

/** The versions of a kind Herald reads, most preferred first (BGPPeer: v1beta2, then the deprecated v1beta1). */
export function servedVersions(kind: string): readonly string[] {
  return kind === 'BGPPeer' ? ['v1beta2', 'v1beta1'] : ['v1beta1'];
}
