// The CR compiler: MetalLB objects -> the same Config the ConfigMap parser gives, every issue naming the
// object and the CR field path, unsupported fields refused; config check and convert read CR manifests.
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { crIssues, crObject, CR_NAMESPACE } from './config-issues.js';
import { compileCrs, compileCrsWithWarnings } from '../../../config/crs/compile.js';
import { parseAnyConfigWithWarnings } from '../../../config/crs/source.js';
import { parseConfig } from '../../../config/parse.js';
import { check } from '../../../cli/config-check.js';
import { convert } from '../../../cli/config-convert.js';

const NS = CR_NAMESPACE;
const obj = crObject;
const issues = crIssues;

const legacy = `
peers:
- {my-asn: 64500, peer-asn: 64501, peer-address: 192.0.2.1, hold-time: 9s, password: pw}
bgp-communities: {no-adv: "65535:65282"}
address-pools:
- {name: web, protocol: layer2, addresses: [203.0.113.0/28]}
- name: bgp
  protocol: bgp
  auto-assign: false
  addresses: [198.51.100.0/24, "2001:db8::/64"]
  bgp-advertisements:
  - {aggregation-length: 24, localpref: 100, communities: [no-adv, "64512:7"]}
  - {}
`;

const crs = [
  obj('IPAddressPool', 'web', { addresses: ['203.0.113.0/28'] }),
  obj('L2Advertisement', 'l2', { ipAddressPools: ['web'] }),
  obj('IPAddressPool', 'bgp', { addresses: ['198.51.100.0/24', '2001:db8::/64'], autoAssign: false }, { labels: { announce: 'bgp' } }),
  obj('BGPAdvertisement', 'agg', { aggregationLength: 24, localPref: 100, communities: ['no-adv', '64512:7'], ipAddressPoolSelectors: [{ matchLabels: { announce: 'bgp' } }] }),
  obj('BGPAdvertisement', 'plain', { ipAddressPools: ['bgp'] }),
  obj('Community', 'c', { communities: [{ name: 'no-adv', value: '65535:65282' }] }),
  obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', holdTime: '9s', passwordSecret: { name: 'bgp-pw' } }),
  { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/basic-auth', metadata: { name: 'bgp-pw', namespace: NS }, data: { password: Buffer.from('pw').toString('base64') } },
];

describe('compileCrs', () => {
  it('compiles to the Config the equivalent ConfigMap parses to', () => {
    expect(compileCrs(crs)).toEqual(parseConfig(legacy));
  });

  it('an advertisement with no pool names and no selectors announces every pool', () => {
    const c = compileCrs([obj('IPAddressPool', 'a', { addresses: ['192.0.2.0/28'] }), obj('L2Advertisement', 'all', {})]);
    expect(c.pools.map((p) => [p.name, p.protocol])).toEqual([['a', 'layer2']]);
  });

  it('names the object and the CR field in every issue', () => {
    const bad = [
      obj('IPAddressPool', 'p', { addresses: ['198.51.100.1/24'], avoidBuggyIPs: 'yes' }),
      obj('L2Advertisement', 'l2', { ipAddressPools: ['p'] }),
      obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.300', holdTime: '1s', keepaliveTime: 5, nodeSelectors: [{ matchLabels: { 'bad key!': 'x' } }] }),
      obj('Community', 'c', { communities: [{ name: 'x', value: '70000:1' }] }),
    ];
    const found = issues(bad);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.addresses\[0\]: .*host bits/),
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.avoidBuggyIPs: expected true or false/),
        expect.stringMatching(/^BGPPeer metallb-system\/r1 spec\.peerAddress: /),
        expect.stringMatching(/^BGPPeer metallb-system\/r1 spec\.holdTime: hold time "1s"/),
        expect.stringMatching(/^BGPPeer metallb-system\/r1 spec\.keepaliveTime: expected a duration/),
        expect.stringMatching(/^BGPPeer metallb-system\/r1 spec\.nodeSelectors\[0\]\.matchLabels\["bad key!"\]: /),
        expect.stringMatching(/^Community metallb-system\/c spec\.communities\[0\]\.value: .*out of range/),
      ]),
    );
    expect(found.join('\n')).not.toMatch(/hold-time|node-selectors|avoid-buggy-ips|peer-address/);
  });

  it('refuses what Herald cannot honour, never ignores it', () => {
    const found = issues([
      obj('IPAddressPool', 'p', { addresses: ['192.0.2.0/28'] }),
      obj('L2Advertisement', 'l2', { nodeSelectors: [{ matchLabels: { a: 'b' } }], interfaces: ['eth0'] }),
      obj('BGPAdvertisement', 'b', { ipAddressPools: ['q'], peers: ['r1'], nodeSelectors: [{}] }),
      obj('IPAddressPool', 'q', { addresses: ['198.51.100.0/28'] }),
      obj('BGPPeer', 'r1', { myASN: 64500, dynamicASN: 'external', peerAddress: '192.0.2.1', vrf: 'red', interface: 'eth1' }),
    ]);
    for (const pattern of [
      /^BGPPeer metallb-system\/r1 spec\.vrf: /,
      /^BGPPeer metallb-system\/r1 spec\.interface: /,
    ]) {
      expect(found.some((f) => pattern.test(f)), `${pattern} in\n${found.join('\n')}`).toBe(true);
    }
  });

  it('IPAddressPool.serviceAllocation is the ConfigMap\'s service-allocation (Herald extension); problems at the CR field', () => {
    const cm = parseConfig(`
address-pools:
- name: team
  protocol: layer2
  addresses: [192.0.2.0/28]
  service-allocation:
    priority: 10
    namespaces: [web]
    namespace-selectors: [{match-labels: {team: a}}]
    service-selectors: [{match-expressions: [{key: tier, operator: In, values: [front]}]}]
- {name: open, protocol: layer2, addresses: [198.51.100.0/28], service-allocation: {priority: 0}}
`);
    const compiled = compileCrs([
      obj('IPAddressPool', 'team', {
        addresses: ['192.0.2.0/28'],
        serviceAllocation: { priority: 10, namespaces: ['web'], namespaceSelectors: [{ matchLabels: { team: 'a' } }], serviceSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] }] },
      }),
      obj('IPAddressPool', 'open', { addresses: ['198.51.100.0/28'], serviceAllocation: { priority: 0 } }),
      obj('L2Advertisement', 'l2', {}),
    ]);
    expect(compiled).toEqual(cm);
    expect(compiled.pools[0].serviceAllocation).toEqual({
      priority: 10,
      namespaces: ['web'],
      namespaceSelectors: [{ matchLabels: { team: 'a' }, matchExpressions: [] }],
      serviceSelectors: [{ matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] }],
    });
    // MetalLB's 0 is "no priority".
    expect(compiled.pools[1].serviceAllocation).toEqual({ namespaces: [], namespaceSelectors: [], serviceSelectors: [] });
    const found = issues([
      obj('IPAddressPool', 'p', { addresses: ['192.0.2.0/28'], serviceAllocation: { priority: -1, namespaces: ['a', 'a', 'Bad_NS'], namespaceSelectors: [{ matchLabels: { 'bad key!': 'x' } }], servicSelectors: [] } }),
      obj('L2Advertisement', 'l2', {}),
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.serviceAllocation\.priority: -1 is out of range/),
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.serviceAllocation\.namespaces\[1\]: namespace "a" is listed twice/),
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.serviceAllocation\.namespaces\[2\]: "Bad_NS" is not a namespace name/),
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.serviceAllocation\.namespaceSelectors\[0\]\.matchLabels\["bad key!"\]: /),
        expect.stringMatching(/^IPAddressPool metallb-system\/p spec\.serviceAllocation\.servicSelectors: unknown key "servicSelectors"; did you mean "serviceSelectors"\?/),
      ]),
    );
    expect(found.join('\n')).not.toMatch(/service-allocation|namespace-selectors|match-labels/);
  });

  it('BGPPeer connectTime, enableGracefulRestart, disableMP are the ConfigMap\'s connect-time, enable-graceful-restart, disable-mp', () => {
    const cm = parseConfig(`
peers:
- {my-asn: 64500, peer-asn: 64501, peer-address: 192.0.2.1, connect-time: 10s, enable-graceful-restart: true, disable-mp: true}
- {my-asn: 64500, peer-asn: 64501, peer-address: 192.0.2.2}
`);
    const compiled = compileCrs([
      obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', connectTime: '10s', enableGracefulRestart: true, disableMP: true }),
      obj('BGPPeer', 'r2', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.2', enableGracefulRestart: false, disableMP: false }),
    ]);
    expect(compiled).toEqual(cm);
    expect(compiled.peers[0]).toMatchObject({ connectTime: 10, enableGracefulRestart: true, disableMp: true });
    expect(compiled.peers[1]).not.toHaveProperty('connectTime');
    const found = issues([
      obj('BGPPeer', 'a', { myASN: 1, peerASN: 2, peerAddress: '192.0.2.1', connectTime: '1500ms' }),
      obj('BGPPeer', 'b', { myASN: 1, peerASN: 2, peerAddress: '192.0.2.2', connectTime: '19h' }),
      obj('BGPPeer', 'c', { myASN: 1, peerASN: 2, peerAddress: '192.0.2.3', disableMP: 'yes' }),
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BGPPeer metallb-system\/a spec\.connectTime: connect time "1500ms" is not a whole number of seconds/),
        expect.stringMatching(/^BGPPeer metallb-system\/b spec\.connectTime: connect time "19h" is out of range: from 1s to 65535s/),
        expect.stringMatching(/^BGPPeer metallb-system\/c spec\.disableMP: expected true or false/),
      ]),
    );
  });

  it('BFDProfile objects are the bfd-profiles entries and BGPPeer.bfdProfile names one (as the ConfigMap)', () => {
    const cm = parseConfig(`
bfd-profiles:
- {name: fast, receive-interval: 100, transmit-interval: 150, detect-multiplier: 5, passive-mode: true, minimum-ttl: 250}
- {name: plain}
peers:
- {my-asn: 64500, peer-asn: 64501, peer-address: 192.0.2.1, bfd-profile: fast}
`);
    const compiled = compileCrs([
      obj('BFDProfile', 'fast', { receiveInterval: 100, transmitInterval: 150, detectMultiplier: 5, passiveMode: true, minimumTtl: 250 }),
      obj('BFDProfile', 'plain', {}),
      obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', bfdProfile: 'fast' }),
    ]);
    expect(compiled).toEqual(cm);
    const found = issues([
      obj('BFDProfile', 'bad', { detectMultiplier: 1, receiveInterval: 5 }),
      obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', bfdProfile: 'missing' }),
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BFDProfile metallb-system\/bad spec\.detectMultiplier: 1 is out of range/),
        expect.stringMatching(/^BFDProfile metallb-system\/bad spec\.receiveInterval: 5 is out of range/),
        expect.stringMatching(/^BGPPeer metallb-system\/r1 spec\.bfdProfile: no BFDProfile is named "missing"/),
      ]),
    );
    expect(found.join('\n')).not.toMatch(/detect-multiplier|receive-interval|bfd-profile/);
  });

  it('BFDProfile echoMode is accepted with the ConfigMap\'s warning, on the object', () => {
    const { warnings } = compileCrsWithWarnings([obj('BFDProfile', 'echo', { echoMode: true })]);
    expect(warnings.map((w) => `${w.path}: ${w.message}`).join('\n')).toMatch(/^BFDProfile metallb-system\/echo spec\.echoMode: BFD profile "echo" sets echoMode/);
  });

  it('a pool announced by both protocols is refused with why (one by none: crs-scope.test.ts)', () => {
    const both = issues([obj('IPAddressPool', 'p', { addresses: ['192.0.2.0/28'] }), obj('L2Advertisement', 'l', {}), obj('BGPAdvertisement', 'b', {})]);
    expect(both.join('\n')).toMatch(/IPAddressPool metallb-system\/p metadata\.name: the pool is announced both by layer2 \(L2Advertisement metallb-system\/l\) and BGP/);
  });

  it('an advertisement problem is reported on the advertisement, once even when it selects several pools', () => {
    const found = issues([
      obj('IPAddressPool', 'a', { addresses: ['192.0.2.0/28'] }),
      obj('IPAddressPool', 'b', { addresses: ['198.51.100.0/28'] }),
      obj('BGPAdvertisement', 'adv', { communities: ['nope'] }),
    ]);
    expect(found.filter((f) => f.startsWith('BGPAdvertisement metallb-system/adv spec.communities[0]: "nope" is neither an alias'))).toHaveLength(1);
  });

  it('passwordSecret: the basic-auth Secret in the peer namespace; wrong type, missing or both set are refused', () => {
    const peer = (spec: Record<string, unknown>) => obj('BGPPeer', 'r', { myASN: 1, peerASN: 2, peerAddress: '192.0.2.1', ...spec });
    expect(issues([peer({ passwordSecret: { name: 's' } })]).join('\n')).toMatch(/spec\.passwordSecret: Secret metallb-system\/s was not found/);
    const opaque = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NS }, stringData: { password: 'x' } };
    expect(issues([peer({ passwordSecret: { name: 's' } }), opaque]).join('\n')).toMatch(/type "Opaque"; a BGP password Secret must be of type kubernetes.io\/basic-auth/);
    expect(issues([peer({ password: 'a', passwordSecret: { name: 's' } })]).join('\n')).toMatch(/password and passwordSecret are both set/);
  });

  it('refuses other kinds, wrong versions, unknown fields (with a hint), duplicate objects and overlapping pools across objects', () => {
    const found = issues([
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } },
      { apiVersion: 'metallb.io/v1beta2', kind: 'IPAddressPool', metadata: { name: 'v' }, spec: {} },
      obj('IPAddressPool', 'a', { addresses: ['192.0.2.0/24'], autoassign: true }),
      obj('IPAddressPool', 'a', { addresses: ['192.0.2.0/24'] }),
      obj('IPAddressPool', 'b', { addresses: ['192.0.2.128/25'] }),
      obj('L2Advertisement', 'l', {}),
    ]);
    const text = found.join('\n');
    expect(text).toMatch(/documents\[0\]: "apps\/v1 Deployment" is not a MetalLB configuration object/);
    expect(text).toMatch(/IPAddressPool v apiVersion: "metallb.io\/v1beta2" is not a served version of IPAddressPool/);
    expect(text).toMatch(/IPAddressPool metallb-system\/a spec\.autoassign: unknown key "autoassign"; did you mean "autoAssign"\?/);
    expect(text).toMatch(/IPAddressPool metallb-system\/a metadata\.name: IPAddressPool metallb-system\/a is defined twice/);
    expect(text).toMatch(/IPAddressPool metallb-system\/b spec\.addresses\[0\]: .*overlaps/);
  });
});

describe('config check and convert read CR manifests', () => {
  const manifest = crs.map((o) => `---\n${yaml.dump(o)}`).join('');

  it('herald config check accepts a multi-document CR file (and a kind: List)', () => {
    const r = check(manifest);
    expect(r.valid).toBe(true);
    expect(r.pools.map((p) => p.name)).toEqual(['web', 'bgp']);
    expect(check(yaml.dump({ apiVersion: 'v1', kind: 'List', items: crs })).valid).toBe(true);
    const bad = check(manifest.replace('203.0.113.0/28', '203.0.113.1/28'));
    expect(bad.valid).toBe(false);
    expect(bad.errors[0].path).toBe('IPAddressPool metallb-system/web spec.addresses[0]');
  });

  it('herald config convert: ConfigMap -> CRs -> ConfigMap keeps the config', () => {
    const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n${legacy.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
    const out = convert(cm, { namespace: NS, name: 'config' });
    const objects = yaml.loadAll(out) as { kind: string }[];
    expect(objects.map((o) => o.kind)).toEqual(['Community', 'BGPPeer', 'IPAddressPool', 'L2Advertisement', 'IPAddressPool', 'BGPAdvertisement', 'BGPAdvertisement']);
    expect(parseAnyConfigWithWarnings(out).config).toEqual(parseConfig(legacy));
    const back = convert(out, { namespace: NS, name: 'config' });
    expect(parseAnyConfigWithWarnings(back)).toMatchObject({ kind: 'configmap', config: parseConfig(legacy) });
  });

  it('convert refuses what a CR cannot say', () => {
    expect(() => convert('address-pools: [{name: My_Pool, protocol: layer2, addresses: [192.0.2.0/28]}]', { namespace: NS, name: 'config' })).toThrow(
      /address-pools\[0\]\.name: pool name "My_Pool" cannot name an IPAddressPool/,
    );
  });
});
