// Unnumbered peers: the ConfigMap extension `interface: <ifname>` (instead of peer-address) and
// MetalLB's BGPPeer `interface`; mutually exclusive with the address; converted both ways.
import { describe, expect, it } from 'vitest';
import { issuesOf } from './config-issues.js';
import { compileCrs } from '../../../config/crs/compile.js';
import { toCrManifests } from '../../../config/crs/emit.js';
import { parseConfig } from '../../../config/parse.js';
import { renderConfig } from '../../../config/render.js';

const peerDoc = (fields: string): string => `peers:\n- {my-asn: 64500, peer-asn: 65000${fields}}\n`;
const bgpPeer = (spec: Record<string, unknown>) => ({ apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor', namespace: 'metallb-system' }, spec: { myASN: 64500, peerASN: 65000, ...spec } });

describe('ConfigMap: interface (unnumbered peer)', () => {
  it('names the peer by interface: no address, keyed and labelled %<ifname>', () => {
    const [peer] = parseConfig(peerDoc(', interface: eth1')).peers;
    expect(peer).toMatchObject({ interface: 'eth1', peerAddress: '%eth1', peerPort: 179 });
  });

  it('with peer-address, with an address-only field, or with a bad name: errors naming the field', () => {
    expect(issuesOf(() => parseConfig(peerDoc(', interface: eth1, peer-address: 192.0.2.1')))).toEqual([
      "peers[0].interface: interface and peer-address are mutually exclusive: an unnumbered peer (interface) learns the router's link-local address on that interface; remove one",
    ]);
    expect(issuesOf(() => parseConfig(peerDoc(', interface: eth1, source-address: 192.0.2.2')))[0]).toMatch(/^peers\[0\]\.source-address: source-address is not supported with interface/);
    expect(issuesOf(() => parseConfig(peerDoc(', interface: "a/b"')))[0]).toMatch(/^peers\[0\]\.interface: interface name "a\/b" has a character/);
    expect(issuesOf(() => parseConfig(peerDoc(', interface: averyveryverylongname')))[0]).toMatch(/^peers\[0\]\.interface: .*1 to 15 bytes/);
    expect(issuesOf(() => parseConfig(peerDoc('')))[0]).toMatch(/^peers\[0\]\.peer-address: missing/);
  });

  it('two peers on one interface (and port) conflict like two on one address', () => {
    expect(issuesOf(() => parseConfig(`peers:\n- {my-asn: 64500, peer-asn: 65000, interface: eth1}\n- {my-asn: 64500, peer-asn: 65001, interface: eth1}\n`)).join('\n')).toMatch(/%eth1/);
  });

  it('renders back to the same config', () => {
    const config = parseConfig(peerDoc(', interface: eth1'));
    expect(renderConfig(config)).toMatch(/interface: eth1/);
    expect(renderConfig(config)).not.toMatch(/peer-address/);
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });
});

describe('CRs: BGPPeer interface (vrf still refused)', () => {
  it('interface compiles to the same peer as the ConfigMap extension, and converts back', () => {
    const fromCr = compileCrs([bgpPeer({ interface: 'eth1' })]);
    expect(fromCr.peers).toEqual(parseConfig(peerDoc(', interface: eth1')).peers);
    const [peer] = toCrManifests(fromCr, 'metallb-system');
    expect(peer.spec).toMatchObject({ interface: 'eth1' });
    expect(peer.spec).not.toHaveProperty('peerAddress');
    expect(compileCrs([peer]).peers).toEqual(fromCr.peers);
  });

  it('interface with peerAddress is an error naming the CR field; vrf stays refused', () => {
    expect(issuesOf(() => compileCrs([bgpPeer({ interface: 'eth1', peerAddress: '192.0.2.1' })]))[0]).toMatch(/spec\.interface: interface and peerAddress are mutually exclusive/);
    expect(issuesOf(() => compileCrs([bgpPeer({ interface: 'eth1', vrf: 'red' })])).join('\n')).toMatch(/spec\.vrf: BGP sessions in a VRF are not supported/);
  });
});
