// The metallb.io CRDs on a real kube-apiserver (1.20): accepted (structural schemas), Established,
// every kind served at MetalLB's versions, and custom resources created, listed, watched (by the
// daemons' own informer) and deleted. Needs the kube-apiserver build-kube-apiserver.sh makes with
// reflect2 1.0.2 (with the vendored 1.0.1 under Go 1.19 it died with SIGSEGV decoding any CR).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../kube/config.js';
import { Informer } from '../../kube/informer.js';
import { decodeObject } from '../../kube/decode.js';
import type { CrItem } from '../../kube/config-source.js';
import { discoverCrResources } from '../../kube/config-source.js';
import { installCrds, KINDS, STATUS_KINDS } from './crd-objects.js';
import { freshNamespace, kubeconfigPath, kubectl, waitFor } from './harness.js';

describe('metallb.io CRDs on kube-apiserver 1.20', () => {
  let ns: string;
  let informer: Informer<CrItem> | undefined;

  beforeAll(async () => {
    await installCrds();
    ns = await freshNamespace('crds');
  }, 120_000);

  afterAll(async () => {
    await informer?.stop();
  });

  it('serves every kind at MetalLB\'s versions (kubectl api-resources, and the daemons\' discovery)', async () => {
    const out = kubectl(['api-resources', '--api-group=metallb.io', '-o', 'name']).trim().split('\n').sort();
    expect(out).toEqual([...KINDS.split(','), ...STATUS_KINDS.split(',')].sort());
    expect(kubectl(['get', '-n', ns, STATUS_KINDS])).toBe('');
    const versions = kubectl(['api-versions']).split('\n').filter((v) => v.startsWith('metallb.io/')).sort();
    expect(versions).toEqual(['metallb.io/v1beta1', 'metallb.io/v1beta2']);
    expect(kubectl(['get', '-n', ns, KINDS])).toBe('');
    const found = await discoverCrResources(loadKubeConfig({ kubeconfig: kubeconfigPath() }).kubeConfig);
    expect(Object.fromEntries(found.map((r) => [r.kind, r.version]))).toEqual({
      BFDProfile: 'v1beta1',
      BGPAdvertisement: 'v1beta1',
      BGPPeer: 'v1beta2',
      Community: 'v1beta1',
      IPAddressPool: 'v1beta1',
      L2Advertisement: 'v1beta1',
    });
  });

  it('creates, lists, watches and deletes custom resources of every kind', async () => {
    const kc = loadKubeConfig({ kubeconfig: kubeconfigPath() }).kubeConfig;
    const seen: string[] = [];
    informer = new Informer<CrItem>({ kubeConfig: kc, path: `/apis/metallb.io/v1beta1/namespaces/${ns}/ipaddresspools`, decode: decodeObject<CrItem>, name: 'pools' });
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`)).on('update', (o) => seen.push(`update ${o.metadata?.name}`)).on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    const objects = [
      { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p1' }, spec: { addresses: ['192.0.2.0/28'], autoAssign: true } },
      { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2' }, spec: { ipAddressPools: ['p1'] } },
      { apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'bgp' }, spec: { aggregationLength: 32, communities: ['64512:1'] } },
      { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'r1' }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1' } },
      { apiVersion: 'metallb.io/v1beta1', kind: 'Community', metadata: { name: 'c' }, spec: { communities: [{ name: 'a', value: '64512:1' }] } },
      { apiVersion: 'metallb.io/v1beta1', kind: 'BFDProfile', metadata: { name: 'f' }, spec: { receiveInterval: 300 } },
    ];
    kubectl(['apply', '-n', ns, '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
    const listed = JSON.parse(kubectl(['get', '-n', ns, KINDS, '-o', 'json'])) as { items: { kind: string; metadata: { name: string }; spec: Record<string, unknown> }[] };
    expect(listed.items.map((i) => `${i.kind}/${i.metadata.name}`).sort()).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort());
    // Defaults from the schemas are filled in by the API server.
    expect(listed.items.find((i) => i.kind === 'BGPPeer')?.spec.peerPort).toBe(179);
    expect(listed.items.find((i) => i.kind === 'IPAddressPool')?.spec.avoidBuggyIPs).toBe(false);
    // The v1beta1 BGPPeer is served too (same fields).
    expect(JSON.parse(kubectl(['get', '-n', ns, 'bgppeers.v1beta1.metallb.io', 'r1', '-o', 'json'])).apiVersion).toBe('metallb.io/v1beta1');
    kubectl(['patch', '-n', ns, 'ipaddresspools.metallb.io', 'p1', '--type=merge', '-p', '{"spec":{"addresses":["192.0.2.16/28"]}}']);
    kubectl(['delete', '-n', ns, 'ipaddresspools.metallb.io', 'p1']);
    await waitFor('the informer saw add, update, delete', () => seen.join(',') === 'add p1,update p1,delete p1', 30_000);
    kubectl(['delete', '-n', ns, KINDS, '--all']);
    expect(kubectl(['get', '-n', ns, KINDS])).toBe('');
    // The API server is still up (it used to die decoding the first CR).
    expect(kubectl(['get', '--raw', '/readyz'])).toBe('ok');
  });

  it('the API server refuses wrong types by the structural schemas, naming the field', () => {
    const bad = { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'bad', namespace: ns }, spec: { myASN: 'sixty-four', peerAddress: '192.0.2.1' } };
    expect(() => kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) })).toThrow(/spec\.myASN/);
    const port = { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'bad', namespace: ns }, spec: { myASN: 64500, peerAddress: '192.0.2.1', peerPort: 70000 } };
    expect(() => kubectl(['apply', '-f', '-'], { input: JSON.stringify(port) })).toThrow(/spec\.peerPort/);
  });
});
