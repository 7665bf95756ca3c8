// A Config as MetalLB CRs (what `herald config convert` prints for a ConfigMap), and CRs back as a
// ConfigMap. Both directions compile back to an equal Config (test/unit/config/crs-roundtrip.test.ts).
// What a CR cannot say (a pool name that is no Kubernetes name, a port above MetalLB's 16384) is an error.
import { formatCommunity } from '../communities.js';
import { formatSeconds } from '../duration.js';
import { Issues, indexPath, keyPath, quote } from '../issues.js';
import { poolAnnounced } from '../advertisement-scope.js';
import { type Community, type Config, ConfigError, type ConfigIssue, type NodeSelector } from '../model.js';
import { renderConfig } from '../render.js';
import { isDnsSubdomain } from '../dns-subdomain.js';
import { CR_GROUP, MAX_CR_PEER_PORT } from './compile.js';

export type CrManifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
};

/** MetalLB's spelling: large communities carry the `large:` prefix in CRs. */
function crCommunity(c: Community): string {
  return c.kind === 'large' ? `large:${formatCommunity(c)}` : formatCommunity(c);
}

function selector(s: NodeSelector): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Object.keys(s.matchLabels).length > 0) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions.length > 0) out.matchExpressions = s.matchExpressions.map((e) => ({ key: e.key, operator: e.operator, values: [...e.values] }));
  return out;
}

function object(kind: string, name: string, namespace: string, spec: Record<string, unknown>): CrManifest {
  const version = kind === 'BGPPeer' ? 'v1beta2' : 'v1beta1';
  return { apiVersion: `${CR_GROUP}/${version}`, kind, metadata: { name, namespace }, spec };
}

/** The CRs saying `config`, in `namespace` (MetalLB reads them from its own). */
export function toCrManifests(config: Config, namespace: string): CrManifest[] {
  const issues = new Issues();
  const out: CrManifest[] = [];
  const aliases = Object.keys(config.bgpCommunities);
  if (aliases.length > 0) {
    out.push(object('Community', 'communities', namespace, {
      communities: aliases.map((name) => ({ name, value: crCommunity(config.bgpCommunities[name]) })),
    }));
  }
  config.bfdProfiles.forEach((b, i) => {
    if (!isDnsSubdomain(b.name)) {
      issues.add(keyPath(indexPath('bfd-profiles', i), 'name'), `BFD profile name ${quote(b.name)} cannot name a BFDProfile (lowercase letters, digits, '-' and '.'); rename the profile first`);
      return;
    }
    out.push(object('BFDProfile', b.name, namespace, {
      receiveInterval: b.receiveInterval,
      transmitInterval: b.transmitInterval,
      detectMultiplier: b.detectMultiplier,
      echoInterval: b.echoInterval,
      echoMode: b.echoMode,
      passiveMode: b.passiveMode,
      minimumTtl: b.minimumTtl,
    }));
  });
  config.peers.forEach((p, i) => {
    const at = indexPath('peers', i);
    if (p.peerPort > MAX_CR_PEER_PORT) issues.add(keyPath(at, 'peer-port'), `${p.peerPort} cannot be written in a BGPPeer (MetalLB's CRD allows 0-${MAX_CR_PEER_PORT})`);
    const spec: Record<string, unknown> = {
      myASN: p.myAsn,
      ...(typeof p.peerAsn === 'number' ? { peerASN: p.peerAsn } : { dynamicASN: p.peerAsn }),
      ...(p.interface !== undefined ? { interface: p.interface } : { peerAddress: p.peerAddress }),
      peerPort: p.peerPort,
      holdTime: formatSeconds(p.holdTime),
      keepaliveTime: formatSeconds(p.keepaliveTime),
    };
    if (p.sourceAddress !== undefined) spec.sourceAddress = p.sourceAddress;
    if (p.routerId !== undefined) spec.routerID = p.routerId;
    if (p.nodeSelectors.length > 0) spec.nodeSelectors = p.nodeSelectors.map(selector);
    if (p.password !== undefined) spec.password = p.password;
    if (p.ebgpMultihop) spec.ebgpMultiHop = true;
    if (p.bfdProfile !== undefined) spec.bfdProfile = p.bfdProfile;
    if (p.connectTime !== undefined) spec.connectTime = formatSeconds(p.connectTime);
    if (p.enableGracefulRestart) spec.enableGracefulRestart = true;
    if (p.disableMp) spec.disableMP = true;
    out.push(object('BGPPeer', p.name ?? `peer-${i + 1}`, namespace, spec));
  });
  config.pools.forEach((pool, i) => {
    if (!isDnsSubdomain(pool.name)) {
      issues.add(keyPath(indexPath('address-pools', i), 'name'), `pool name ${quote(pool.name)} cannot name an IPAddressPool (lowercase letters, digits, '-' and '.'); rename the pool first`);
      return;
    }
    const spec: Record<string, unknown> = {
      addresses: pool.addresses.map((a) => a.source),
      autoAssign: pool.autoAssign,
      avoidBuggyIPs: pool.avoidBuggyIps,
    };
    const sa = pool.serviceAllocation;
    if (sa) {
      const s: Record<string, unknown> = {};
      if (sa.priority !== undefined) s.priority = sa.priority;
      if (sa.namespaces.length > 0) s.namespaces = [...sa.namespaces];
      if (sa.namespaceSelectors.length > 0) s.namespaceSelectors = sa.namespaceSelectors.map(selector);
      if (sa.serviceSelectors.length > 0) s.serviceSelectors = sa.serviceSelectors.map(selector);
      spec.serviceAllocation = s;
    }
    out.push(object('IPAddressPool', pool.name, namespace, spec));
    if (pool.protocol === 'layer2') {
      // No advertisement: the pool is allocated from, not announced. Several: one object each.
      const scopes = pool.l2Advertisements ?? [{ nodeSelectors: [], interfaces: [] }];
      scopes.forEach((a, j) => {
        const spec: Record<string, unknown> = { ipAddressPools: [pool.name] };
        if (a.nodeSelectors.length > 0) spec.nodeSelectors = a.nodeSelectors.map(selector);
        if (a.interfaces.length > 0) spec.interfaces = [...a.interfaces];
        out.push(object('L2Advertisement', scopes.length === 1 ? pool.name : `${pool.name}-${j + 1}`, namespace, spec));
      });
      return;
    }
    pool.bgpAdvertisements.forEach((a, j) => {
      const spec: Record<string, unknown> = {
        aggregationLength: a.aggregationLength,
        aggregationLengthV6: a.aggregationLengthV6,
        ipAddressPools: [pool.name],
      };
      if (a.localPref !== undefined) spec.localPref = a.localPref;
      if (a.communities.length > 0) spec.communities = a.communities.map(crCommunity);
      if (a.nodeSelectors !== undefined) spec.nodeSelectors = a.nodeSelectors.map(selector);
      if (a.peers !== undefined) spec.peers = [...a.peers];
      const name = pool.bgpAdvertisements.length === 1 ? pool.name : `${pool.name}-${j + 1}`;
      out.push(object('BGPAdvertisement', name, namespace, spec));
    });
  });
  if (issues.count > 0) throw new ConfigError(issues.list);
  return out;
}

/**
 * What a legacy ConfigMap cannot say (it announces every pool, from every node, on every interface,
 * to every peer): one issue per pool naming the CR field that would be lost.
 */
function inexpressibleInConfigMap(config: Config): ConfigIssue[] {
  const issues = new Issues();
  config.pools.forEach((pool, i) => {
    const at = keyPath(indexPath('address-pools', i), 'name');
    const lost = (field: string, what: string): void =>
      issues.add(at, `pool ${quote(pool.name)}: ${field} cannot be written in a ConfigMap (${what}); keep the CRs (--config-source crds)`);
    if (!poolAnnounced(pool)) lost('no advertisement selects the pool', 'a ConfigMap pool is always announced');
    for (const a of pool.l2Advertisements ?? []) {
      if (a.nodeSelectors.length > 0) lost('L2Advertisement spec.nodeSelectors', 'a layer2 pool is announced from every node');
      if (a.interfaces.length > 0) lost('L2Advertisement spec.interfaces', 'a layer2 pool is announced on every interface the speaker serves');
    }
    for (const a of pool.bgpAdvertisements) {
      if (a.nodeSelectors !== undefined) lost('BGPAdvertisement spec.nodeSelectors', 'every node advertises a bgp pool');
      if (a.peers !== undefined) lost('BGPAdvertisement spec.peers', 'a bgp pool is advertised to every peer');
    }
  });
  return dedupeIssues(issues.list);
}

/** Two advertisements of a pool losing the same field say it once. */
function dedupeIssues(list: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return list.filter((i) => {
    const key = `${i.path}\n${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A MetalLB legacy ConfigMap holding `config`; throws ConfigError naming what a ConfigMap cannot say. */
export function toConfigMap(config: Config, name: string, namespace: string): Record<string, unknown> {
  const lost = inexpressibleInConfigMap(config);
  if (lost.length > 0) throw new ConfigError(lost);
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { config: renderConfig(config) } };
}
