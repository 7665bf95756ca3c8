// Scoping in CRs (issue 14): L2Advertisement nodeSelectors and interfaces, BGPAdvertisement
// nodeSelectors and peers, BGPPeer nodeSelectors, and a pool no advertisement selects (allocated, not
// announced): compiled into the model, refused naming the field when bad, and the decisions of
// config/advertisement-scope.ts that the controller and the speakers share.
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { crIssues, crObject, CR_NAMESPACE } from './config-issues.js';
import { advertisesTo, anyPeerScoped, bgpAdvertisementsFor, bgpSelects, layer2Interfaces, layer2Selects, poolAnnounced } from '../../../config/advertisement-scope.js';
import { compileCrs, compileCrsWithWarnings } from '../../../config/crs/compile.js';
import { toConfigMap, toCrManifests } from '../../../config/crs/emit.js';
import { ConfigError } from '../../../config/model.js';
import { parseConfig } from '../../../config/parse.js';
import { convert } from '../../../cli/config-convert.js';

const NS = CR_NAMESPACE;
const obj = crObject;
const issues = crIssues;

const pool = (name: string, addresses: string[]) => obj('IPAddressPool', name, { addresses });
const peer = (name: string, address: string, spec: Record<string, unknown> = {}) => obj('BGPPeer', name, { myASN: 64500, peerASN: 64501, peerAddress: address, ...spec });
const rackA = { matchLabels: { rack: 'a' } };
const rackB = { matchExpressions: [{ key: 'rack', operator: 'In', values: ['b'] }] };

describe('L2Advertisement nodeSelectors and interfaces', () => {
  it('compile into the pool; several advertisements unite; an unrestricted one makes the pool unrestricted', () => {
    const c = compileCrs([
      pool('web', ['192.0.2.0/28']),
      obj('L2Advertisement', 'a', { ipAddressPools: ['web'], nodeSelectors: [rackA], interfaces: ['eth1'] }),
      obj('L2Advertisement', 'b', { ipAddressPools: ['web'], nodeSelectors: [rackB] }),
      obj('L2Advertisement', 'a-again', { ipAddressPools: ['web'], nodeSelectors: [rackA], interfaces: ['eth1'] }),
    ]);
    const web = c.pools[0];
    expect(web.protocol).toBe('layer2');
    expect(web.l2Advertisements).toEqual([
      { nodeSelectors: [{ matchLabels: { rack: 'a' }, matchExpressions: [] }], interfaces: ['eth1'] },
      { nodeSelectors: [{ matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'In', values: ['b'] }] }], interfaces: [] },
    ]);
    expect(layer2Selects(web, { rack: 'a' })).toBe(true);
    expect(layer2Selects(web, { rack: 'b' })).toBe(true);
    expect(layer2Selects(web, { rack: 'c' })).toBe(false);
    expect(layer2Selects(web, {})).toBe(false);
    expect(layer2Interfaces(web, { rack: 'a' })).toEqual(['eth1']);
    // rack b is selected by an advertisement without interfaces: every interface.
    expect(layer2Interfaces(web, { rack: 'b' })).toBeUndefined();

    const open = compileCrs([pool('web', ['192.0.2.0/28']), obj('L2Advertisement', 'a', { nodeSelectors: [rackA] }), obj('L2Advertisement', 'all', {})]);
    expect(open.pools[0].l2Advertisements).toBeUndefined();
    expect(layer2Selects(open.pools[0], {})).toBe(true);
  });

  it('interfaces of several advertisements selecting one node are united', () => {
    const c = compileCrs([
      pool('web', ['192.0.2.0/28']),
      obj('L2Advertisement', 'a', { interfaces: ['eth1', 'eth0'] }),
      obj('L2Advertisement', 'b', { nodeSelectors: [rackA], interfaces: ['bond0', 'eth1'] }),
    ]);
    expect(layer2Interfaces(c.pools[0], { rack: 'a' })).toEqual(['bond0', 'eth0', 'eth1']);
    expect(layer2Interfaces(c.pools[0], { rack: 'b' })).toEqual(['eth0', 'eth1']);
    expect(layer2Selects(c.pools[0], { rack: 'b' })).toBe(true);
  });

  it('bad selectors and interface names are refused naming the field', () => {
    const found = issues([
      pool('web', ['192.0.2.0/28']),
      obj('L2Advertisement', 'l', {
        nodeSelectors: [{ matchLabels: { 'bad key!': 'x' } }, { matchExpressions: [{ key: 'rack', operator: 'Near', values: [] }] }],
        interfaces: ['eth0', 'a/b', 'much-too-long-name0', 7],
      }),
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^L2Advertisement metallb-system\/l spec\.nodeSelectors\[0\]\.matchLabels\["bad key!"\]: /),
        expect.stringMatching(/^L2Advertisement metallb-system\/l spec\.nodeSelectors\[1\]\.matchExpressions\[0\]\.operator: /),
        expect.stringMatching(/^L2Advertisement metallb-system\/l spec\.interfaces\[1\]: "a\/b" is not a network interface name/),
        expect.stringMatching(/^L2Advertisement metallb-system\/l spec\.interfaces\[2\]: "much-too-long-name0" is not a network interface name/),
        expect.stringMatching(/^L2Advertisement metallb-system\/l spec\.interfaces\[3\]: expected an interface name/),
      ]),
    );
    expect(found.join('\n')).not.toMatch(/match-labels|match-expressions|node-selectors/);
    expect(issues([pool('web', ['192.0.2.0/28']), obj('L2Advertisement', 'l', { interfaces: 'eth0' })]).join('\n')).toMatch(/L2Advertisement metallb-system\/l spec\.interfaces: /);
  });
});

describe('BGPAdvertisement nodeSelectors and peers, BGPPeer nodeSelectors', () => {
  const docs = [
    pool('bgp', ['198.51.100.0/24']),
    peer('tor-a', '192.0.2.1', { nodeSelectors: [rackA] }),
    peer('tor-b', '192.0.2.2'),
    obj('BGPAdvertisement', 'to-a', { peers: ['tor-a'], localPref: 200 }),
    obj('BGPAdvertisement', 'rack-b', { nodeSelectors: [rackB], aggregationLength: 24 }),
  ];

  it('compile into the advertisements; only named peers keep their name in the model', () => {
    const c = compileCrs(docs);
    const ads = c.pools[0].bgpAdvertisements;
    expect(ads).toEqual([
      expect.objectContaining({ localPref: 200, peers: ['tor-a'] }),
      expect.objectContaining({ aggregationLength: 24, nodeSelectors: [{ matchLabels: {}, matchExpressions: [{ key: 'rack', operator: 'In', values: ['b'] }] }] }),
    ]);
    expect(ads[0].nodeSelectors).toBeUndefined();
    expect(ads[1].peers).toBeUndefined();
    expect(c.peers.map((p) => p.name)).toEqual(['tor-a', undefined]);
    // BGPPeer.nodeSelectors is the ConfigMap's peer node-selectors.
    expect(c.peers[0].nodeSelectors).toEqual([{ matchLabels: { rack: 'a' }, matchExpressions: [] }]);
    expect(anyPeerScoped(c.pools)).toBe(true);
  });

  it('decide which node advertises what to which peer', () => {
    const p = compileCrs(docs).pools[0];
    expect(bgpSelects(p, { rack: 'a' })).toBe(true); // to-a selects every node
    expect(bgpAdvertisementsFor(p, { rack: 'a' }, 'tor-a').map((a) => a.localPref)).toEqual([200]);
    expect(bgpAdvertisementsFor(p, { rack: 'a' }, 'tor-b')).toEqual([]);
    expect(bgpAdvertisementsFor(p, { rack: 'b' }, 'tor-b').map((a) => a.aggregationLength)).toEqual([24]);
    expect(bgpAdvertisementsFor(p, { rack: 'b' }, 'tor-a').map((a) => a.aggregationLength)).toEqual([32, 24]);
    // A ConfigMap peer has no name: it gets only the advertisements without peers.
    expect(advertisesTo(p.bgpAdvertisements[0], undefined)).toBe(false);
    expect(advertisesTo(p.bgpAdvertisements[1], undefined)).toBe(true);
    const onlyB = compileCrs([pool('bgp', ['198.51.100.0/24']), obj('BGPAdvertisement', 'b', { nodeSelectors: [rackB] })]).pools[0];
    expect(bgpSelects(onlyB, { rack: 'a' })).toBe(false);
    expect(bgpSelects(onlyB, { rack: 'b' })).toBe(true);
  });

  it('an unknown peer name is a warning; bad selectors and names are refused naming the field', () => {
    const { warnings } = compileCrsWithWarnings([pool('bgp', ['198.51.100.0/24']), obj('BGPAdvertisement', 'x', { peers: ['nobody'] })]);
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toContain('BGPAdvertisement metallb-system/x spec.peers[0]: no BGPPeer is named "nobody"; nothing is advertised to it');
    const found = issues([pool('bgp', ['198.51.100.0/24']), obj('BGPAdvertisement', 'x', { peers: [''], nodeSelectors: [{ matchLabels: { rack: 'not valid!' } }] })]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BGPAdvertisement metallb-system\/x spec\.peers\[0\]: expected a BGPPeer name/),
        expect.stringMatching(/^BGPAdvertisement metallb-system\/x spec\.nodeSelectors\[0\]\.matchLabels\.rack: label value "not valid!"/),
      ]),
    );
  });

  it('two advertisements equal but for their peers both count', () => {
    const c = compileCrs([pool('bgp', ['198.51.100.0/24']), peer('a', '192.0.2.1'), peer('b', '192.0.2.2'), obj('BGPAdvertisement', 'x', { peers: ['a'] }), obj('BGPAdvertisement', 'y', { peers: ['b'] }), obj('BGPAdvertisement', 'z', { peers: ['a'] })]);
    expect(c.pools[0].bgpAdvertisements.map((a) => a.peers)).toEqual([['a'], ['b']]);
  });
});

describe('a pool no advertisement selects', () => {
  it('is allocated from and not announced, with a warning on the pool (MetalLB)', () => {
    const { config, warnings } = compileCrsWithWarnings([pool('quiet', ['192.0.2.0/28']), pool('web', ['198.51.100.0/28']), obj('L2Advertisement', 'l', { ipAddressPools: ['web'] })]);
    const quiet = config.pools.find((p) => p.name === 'quiet')!;
    expect(quiet.l2Advertisements).toEqual([]);
    expect(poolAnnounced(quiet)).toBe(false);
    expect(layer2Selects(quiet, {})).toBe(false);
    expect(poolAnnounced(config.pools.find((p) => p.name === 'web')!)).toBe(true);
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toContain(
      "IPAddressPool metallb-system/quiet metadata.name: no L2Advertisement or BGPAdvertisement selects this pool: its addresses are handed out but not announced (MetalLB's rule); add an advertisement to announce them",
    );
  });

  it('ConfigMap pools are announced everywhere, to every peer', () => {
    const c = parseConfig('address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/28]}\n- {name: b, protocol: bgp, addresses: [198.51.100.0/28]}\n');
    for (const p of c.pools) expect(poolAnnounced(p)).toBe(true);
    expect(layer2Selects(c.pools[0], {})).toBe(true);
    expect(layer2Interfaces(c.pools[0], {})).toBeUndefined();
    expect(bgpAdvertisementsFor(c.pools[1], {}, undefined)).toHaveLength(1);
    expect(anyPeerScoped(c.pools)).toBe(false);
  });
});

describe('conversion', () => {
  const scoped = [
    pool('web', ['192.0.2.0/28']),
    pool('quiet', ['192.0.2.16/28']),
    pool('bgp', ['198.51.100.0/24']),
    obj('L2Advertisement', 'l', { ipAddressPools: ['web'], nodeSelectors: [rackA], interfaces: ['eth1'] }),
    peer('tor', '192.0.2.1'),
    obj('BGPAdvertisement', 'b', { ipAddressPools: ['bgp'], peers: ['tor'], nodeSelectors: [rackB] }),
  ];

  it('CRs -> Config -> CRs keeps the scoping', () => {
    const config = compileCrs(scoped);
    expect(compileCrs(toCrManifests(config, NS))).toEqual(config);
  });

  it('CRs -> ConfigMap is refused naming each field a ConfigMap cannot say', () => {
    let error: unknown;
    try {
      toConfigMap(compileCrs(scoped), 'config', NS);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const msgs = (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(msgs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^address-pools\[0\]\.name: pool "web": L2Advertisement spec\.nodeSelectors cannot be written in a ConfigMap/),
        expect.stringMatching(/^address-pools\[0\]\.name: pool "web": L2Advertisement spec\.interfaces cannot be written in a ConfigMap/),
        expect.stringMatching(/^address-pools\[1\]\.name: pool "quiet": no advertisement selects the pool cannot be written in a ConfigMap/),
        expect.stringMatching(/^address-pools\[2\]\.name: pool "bgp": BGPAdvertisement spec\.nodeSelectors cannot be written/),
        expect.stringMatching(/^address-pools\[2\]\.name: pool "bgp": BGPAdvertisement spec\.peers cannot be written/),
      ]),
    );
    const text = scoped.map((o) => `---\n${yaml.dump(o)}`).join('');
    expect(() => convert(text, { to: 'configmap', namespace: NS, name: 'config' })).toThrow(/L2Advertisement spec\.interfaces cannot be written in a ConfigMap/);
  });
});
