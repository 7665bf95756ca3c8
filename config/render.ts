// Renders a Config back to MetalLB's legacy format (a bare config document, every default spelled out),
// so `herald` can show the effective config and tests can round-trip generated configs.
import { formatCommunity } from './communities.js';
import { formatSeconds } from './duration.js';
import type { AddressPool, BfdProfile, Config, NodeSelector, Peer } from './model.js';
import { dumpYaml } from './yaml.js';

function selectorDocument(s: NodeSelector): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (Object.keys(s.matchLabels).length > 0) doc['match-labels'] = { ...s.matchLabels };
  if (s.matchExpressions.length > 0) {
    doc['match-expressions'] = s.matchExpressions.map((e) => ({ key: e.key, operator: e.operator, values: [...e.values] }));
  }
  return doc;
}

function peerDocument(p: Peer): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    'my-asn': p.myAsn,
    ...(typeof p.peerAsn === 'number' ? { 'peer-asn': p.peerAsn } : { 'dynamic-asn': p.peerAsn }),
    ...(p.interface !== undefined ? { interface: p.interface } : { 'peer-address': p.peerAddress }),
    'peer-port': p.peerPort,
    'hold-time': formatSeconds(p.holdTime),
    'keepalive-time': formatSeconds(p.keepaliveTime),
  };
  if (p.sourceAddress !== undefined) doc['source-address'] = p.sourceAddress;
  if (p.routerId !== undefined) doc['router-id'] = p.routerId;
  if (p.nodeSelectors.length > 0) doc['node-selectors'] = p.nodeSelectors.map(selectorDocument);
  if (p.password !== undefined) doc.password = p.password;
  if (p.ebgpMultihop) doc['ebgp-multihop'] = true;
  if (p.bfdProfile !== undefined) doc['bfd-profile'] = p.bfdProfile;
  if (p.connectTime !== undefined) doc['connect-time'] = formatSeconds(p.connectTime);
  if (p.enableGracefulRestart) doc['enable-graceful-restart'] = true;
  if (p.disableMp) doc['disable-mp'] = true;
  return doc;
}

function poolDocument(p: AddressPool): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    name: p.name,
    protocol: p.protocol,
    addresses: p.addresses.map((a) => a.source),
    'avoid-buggy-ips': p.avoidBuggyIps,
    'auto-assign': p.autoAssign,
  };
  if (p.protocol === 'bgp') {
    doc['bgp-advertisements'] = p.bgpAdvertisements.map((a) => {
      const adv: Record<string, unknown> = {
        'aggregation-length': a.aggregationLength,
        'aggregation-length-v6': a.aggregationLengthV6,
      };
      if (a.localPref !== undefined) adv.localpref = a.localPref;
      if (a.communities.length > 0) adv.communities = a.communities.map(formatCommunity);
      return adv;
    });
  }
  const sa = p.serviceAllocation;
  if (sa) {
    const s: Record<string, unknown> = {};
    if (sa.priority !== undefined) s.priority = sa.priority;
    if (sa.namespaces.length > 0) s.namespaces = [...sa.namespaces];
    if (sa.namespaceSelectors.length > 0) s['namespace-selectors'] = sa.namespaceSelectors.map(selectorDocument);
    if (sa.serviceSelectors.length > 0) s['service-selectors'] = sa.serviceSelectors.map(selectorDocument);
    doc['service-allocation'] = s;
  }
  return doc;
}

function bfdProfileDocument(b: BfdProfile): Record<string, unknown> {
  return {
    name: b.name,
    'receive-interval': b.receiveInterval,
    'transmit-interval': b.transmitInterval,
    'detect-multiplier': b.detectMultiplier,
    'echo-interval': b.echoInterval,
    'echo-mode': b.echoMode,
    'passive-mode': b.passiveMode,
    'minimum-ttl': b.minimumTtl,
  };
}

/** The config as a plain document with MetalLB's keys. */
export function toConfigDocument(config: Config): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (config.peers.length > 0) doc.peers = config.peers.map(peerDocument);
  const aliases = Object.keys(config.bgpCommunities);
  if (aliases.length > 0) {
    doc['bgp-communities'] = Object.fromEntries(aliases.map((k) => [k, formatCommunity(config.bgpCommunities[k])]));
  }
  if (config.bfdProfiles.length > 0) doc['bfd-profiles'] = config.bfdProfiles.map(bfdProfileDocument);
  if (config.pools.length > 0) doc['address-pools'] = config.pools.map(poolDocument);
  return doc;
}

/** The config as YAML text that parseConfig reads back to an equal Config. */
export function renderConfig(config: Config): string {
  return dumpYaml(toConfigDocument(config));
}
