// The typed, validated Herald configuration (MetalLB's legacy ConfigMap format, parsed).
// This file is the contract between the parser (config/parse*.ts), the allocator and the daemons.

export type Protocol = 'layer2' | 'bgp';
export type Family = 'ipv4' | 'ipv6';

/** An inclusive range of addresses of one family, as numbers (BigInt for both families, for one code path). */
export interface AddressRange {
  family: Family;
  first: bigint;
  last: bigint;
  /** The entry as the user wrote it, for messages: "203.0.113.0/24" or "203.0.113.10-203.0.113.20". */
  source: string;
  /** Prefix length when written as a CIDR, else undefined (a dash range). */
  prefixLength?: number;
}

/** RFC 1997 community (32 bits: high 16 = AS, low 16 = value) or RFC 8092 large community. */
export type Community =
  | { kind: 'standard'; value: number }
  | { kind: 'large'; globalAdmin: number; localData1: number; localData2: number };

export interface BgpAdvertisement {
  /** Prefix length the /32 is aggregated to (default 32). */
  aggregationLength: number;
  /** Prefix length the /128 is aggregated to (default 128). */
  aggregationLengthV6: number;
  localPref?: number;
  communities: Community[];
  /** MetalLB's BGPAdvertisement.nodeSelectors (OR'd): only matching nodes advertise; absent = every node (the ConfigMap). */
  nodeSelectors?: NodeSelector[];
  /** MetalLB's BGPAdvertisement.peers: advertised only to the BGPPeers of these names; absent = every peer (the ConfigMap). */
  peers?: string[];
}

/** Where a layer2 pool is announced (MetalLB's L2Advertisement). */
export interface L2Advertisement {
  /** OR'd; empty = every node. Only matching nodes may be the layer2 owner. */
  nodeSelectors: NodeSelector[];
  /** Interfaces to answer on; empty = every interface the speaker serves (its --interface selection). */
  interfaces: string[];
}

export interface AddressPool {
  name: string;
  protocol: Protocol;
  addresses: AddressRange[];
  avoidBuggyIps: boolean;
  autoAssign: boolean;
  /** Always empty for layer2; at least one (the default) for bgp. */
  bgpAdvertisements: BgpAdvertisement[];
  /** MetalLB's IPAddressPool `serviceAllocation` (ConfigMap: Herald's `service-allocation`); absent: any Service. */
  serviceAllocation?: ServiceAllocation;
  /**
   * Layer2 pools only (CRs): the L2Advertisements selecting the pool, united (a node may own a VIP
   * when one of them selects it; it answers on the interfaces of those that select it). Absent = every
   * node and interface (the ConfigMap, or an unrestricted L2Advertisement). Empty = no advertisement
   * selects the pool: addresses are handed out but nobody announces them (MetalLB's rule).
   */
  l2Advertisements?: L2Advertisement[];
}

/**
 * Which Services may take addresses from a pool, and in which order pools are tried
 * (allocator/pool-choice.ts). A Service matches when its namespace is listed or its Namespace's labels
 * match a namespace selector (both empty: any namespace) and, with service selectors, its labels match one.
 */
export interface ServiceAllocation {
  /** Lower is tried first; undefined (MetalLB's 0) comes after every pool with a priority. */
  priority?: number;
  namespaces: string[];
  namespaceSelectors: NodeSelector[];
  serviceSelectors: NodeSelector[];
}

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/** One node selector: its parts are AND'd. A peer's selectors are OR'd; none means every node. */
export interface NodeSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

/**
 * The peer's AS: a number, or (Herald's `dynamic-asn`, MetalLB's `dynamicASN`) 'internal' / 'external':
 * learned from the peer's OPEN, which must then carry our AS (iBGP) / another AS (eBGP).
 */
export type PeerAsn = number | 'internal' | 'external';

export interface Peer {
  myAsn: number;
  peerAsn: PeerAsn;
  /**
   * The router's address; for an unnumbered peer (`interface`) `%<ifname>` (its key and label): the
   * session's address, the router's link-local `fe80::x%<ifname>`, is learned on that interface.
   */
  peerAddress: string;
  /** Herald's `interface` (MetalLB's BGPPeer `interface`): unnumbered peering (RFC 8950) on this interface. */
  interface?: string;
  peerPort: number;
  sourceAddress?: string;
  /** Seconds; 0 (no keepalives) or >= 3. */
  holdTime: number;
  /** Seconds; <= holdTime. */
  keepaliveTime: number;
  routerId?: string;
  nodeSelectors: NodeSelector[];
  password?: string;
  ebgpMultihop: boolean;
  /** Name of a `bfd-profiles` entry: the session runs BFD with it and goes down when BFD does. */
  bfdProfile?: string;
  /** The BGPPeer's name, kept only when a BGPAdvertisement's `peers` names it (the ConfigMap cannot). */
  name?: string;
  /** Seconds between connection attempts (RFC 4271 ConnectRetryTime), fixed; absent: the session's back-off. */
  connectTime?: number;
  /** Offer graceful restart (RFC 4724) to this peer even without the speaker's --graceful-restart; only `true` is kept. */
  enableGracefulRestart?: true;
  /** One address family per session (the peer address's), not IPv4 and IPv6 on one; only `true` is kept. */
  disableMp?: true;
}

/** A `bfd-profiles` entry (MetalLB's fields; intervals in milliseconds). */
export interface BfdProfile {
  name: string;
  receiveInterval: number;
  transmitInterval: number;
  detectMultiplier: number;
  /** Parsed for MetalLB compatibility; Herald runs asynchronous mode only (a warning says so). */
  echoInterval: number;
  echoMode: boolean;
  /** Wait for the peer's first packet before sending (RFC 5880 passive role). */
  passiveMode: boolean;
  minimumTtl: number;
}

export interface Config {
  peers: Peer[];
  /** Aliases from `bgp-communities`. */
  bgpCommunities: Record<string, Community>;
  pools: AddressPool[];
  bfdProfiles: BfdProfile[];
}

/** One problem in a config document: where (a path like `address-pools[1].addresses[0]`) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** The only error the config parser throws: every problem found, not only the first. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
