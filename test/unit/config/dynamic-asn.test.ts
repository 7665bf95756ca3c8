// Dynamic peer ASN: the ConfigMap extension `dynamic-asn: internal|external` (peer-asn omitted) and
// MetalLB's BGPPeer `dynamicASN`; exactly one of the two; VRFs refused naming the field.
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { issuesOf } from './config-issues.js';
import { compileCrs } from '../../../config/crs/compile.js';
import { toCrManifests } from '../../../config/crs/emit.js';
import { parseConfig } from '../../../config/parse.js';
import { renderConfig } from '../../../config/render.js';
import { peerConnectOptions } from '../../../speaker/bgp-announcer.js';

const peerDoc = (fields: string): string => `peers:\n- {my-asn: 64500, peer-address: 192.0.2.1${fields}}\n`;
const bgpPeer = (spec: Record<string, unknown>) => ({ apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor', namespace: 'metallb-system' }, spec: { myASN: 64500, peerAddress: '192.0.2.1', ...spec } });

describe('ConfigMap: dynamic-asn', () => {
  it('internal and external are accepted with peer-asn omitted', () => {
    expect(parseConfig(peerDoc(', dynamic-asn: internal')).peers[0].peerAsn).toBe('internal');
    expect(parseConfig(peerDoc(', dynamic-asn: external')).peers[0].peerAsn).toBe('external');
  });

  it('both, neither, or another mode are errors naming the field', () => {
    expect(issuesOf(() => parseConfig(peerDoc(', peer-asn: 64501, dynamic-asn: external')))).toEqual([
      'peers[0].dynamic-asn: dynamic-asn and peer-asn are both set: use peer-asn for a fixed ASN or dynamic-asn (internal|external) to learn it from the peer, not both',
    ]);
    expect(issuesOf(() => parseConfig(peerDoc('')))).toEqual([
      'peers[0].peer-asn: missing required peer ASN, an integer from 1 to 4294967295 (or dynamic-asn: internal|external)',
    ]);
    expect(issuesOf(() => parseConfig(peerDoc(', dynamic-asn: ibgp')))[0]).toMatch(/^peers\[0\]\.dynamic-asn: "ibgp" is not a dynamic ASN mode: expected internal .* or external/);
    expect(issuesOf(() => parseConfig(peerDoc(', dynamic-asn: 1')))[0]).toMatch(/^peers\[0\]\.dynamic-asn: expected dynamic ASN mode \(a string\)/);
  });

  it('ebgp-multihop is an error with internal, fine with external', () => {
    expect(issuesOf(() => parseConfig(peerDoc(', dynamic-asn: internal, ebgp-multihop: true')))[0]).toMatch(/^peers\[0\]\.ebgp-multihop: .*dynamic-asn: internal/);
    expect(parseConfig(peerDoc(', dynamic-asn: external, ebgp-multihop: true')).peers[0].ebgpMultihop).toBe(true);
  });

  it('renders back to the same config, and the TTL follows the mode (internal: default, external: 1)', () => {
    for (const mode of ['internal', 'external']) {
      const config = parseConfig(peerDoc(`, dynamic-asn: ${mode}`));
      expect(parseConfig(renderConfig(config))).toEqual(config);
      expect(peerConnectOptions(config.peers[0]).ttl).toBe(mode === 'internal' ? undefined : 1);
    }
  });
});

describe('CRs: BGPPeer dynamicASN and vrf', () => {
  it('dynamicASN compiles to the same peer as the ConfigMap extension, and converts back', () => {
    const fromCr = compileCrs([bgpPeer({ dynamicASN: 'external' })]);
    expect(fromCr.peers).toEqual(parseConfig(peerDoc(', dynamic-asn: external')).peers);
    const [peer] = toCrManifests(fromCr, 'metallb-system');
    expect(peer.spec).toMatchObject({ myASN: 64500, dynamicASN: 'external' });
    expect(peer.spec).not.toHaveProperty('peerASN');
    expect(yaml.dump(peer)).toContain('dynamicASN: external');
  });

  it('peerASN with dynamicASN (or neither) is refused naming the CR field', () => {
    expect(issuesOf(() => compileCrs([bgpPeer({ peerASN: 64501, dynamicASN: 'internal' })]))).toEqual([
      'BGPPeer metallb-system/tor spec.dynamicASN: dynamicASN and peerASN are both set: use peerASN for a fixed ASN or dynamicASN (internal|external) to learn it from the peer, not both',
    ]);
    expect(issuesOf(() => compileCrs([bgpPeer({})]))[0]).toMatch(/^BGPPeer metallb-system\/tor spec\.peerASN: missing required peer ASN.*\(or dynamicASN: internal\|external\)/);
  });

  it('a non-empty vrf is refused naming spec.vrf and saying why; an empty one is the default table', () => {
    expect(issuesOf(() => compileCrs([bgpPeer({ peerASN: 64501, vrf: 'red' })]))).toEqual([
      'BGPPeer metallb-system/tor spec.vrf: BGP sessions in a VRF are not supported by Herald (a session bound to a VRF device needs VRF support in the node kernel: see the README, BGP and VRFs); remove vrf to peer from the default routing table',
    ]);
    expect(compileCrs([bgpPeer({ peerASN: 64501, vrf: '' })]).peers).toHaveLength(1);
  });
});
