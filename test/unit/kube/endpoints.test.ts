import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { KubeAccess } from '../../../kube/access.js';
import { decodeEndpointSlice, endpointsFromEndpoints, endpointsFromSlices, ServiceEndpointsInformer } from '../../../kube/endpoints.js';
import { objectKey } from '../../../kube/informer.js';

describe('per-node endpoints', () => {
  it('reads v1beta1 slices (topology hostname), v1 slices (nodeName) and core Endpoints alike', () => {
    const beta = decodeEndpointSlice({
      apiVersion: 'discovery.k8s.io/v1beta1',
      kind: 'EndpointSlice',
      metadata: { name: 's1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['192.0.2.11'], conditions: { ready: true }, topology: { 'kubernetes.io/hostname': 'node-a' } },
        { addresses: ['192.0.2.12'], conditions: { ready: false }, topology: { 'kubernetes.io/hostname': 'node-b' } },
        { addresses: ['192.0.2.13'], topology: { 'kubernetes.io/hostname': 'node-b' } }, // nil ready = ready
      ],
    });
    const v1 = decodeEndpointSlice({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's1', namespace: 'ns' },
      endpoints: [
        { addresses: ['192.0.2.11'], conditions: { ready: true }, nodeName: 'node-a' },
        { addresses: ['192.0.2.12'], conditions: { ready: false }, nodeName: 'node-b' },
        { addresses: ['192.0.2.13'], conditions: {}, nodeName: 'node-b' },
      ],
    });
    const core = endpointsFromEndpoints({
      subsets: [
        { addresses: [{ ip: '192.0.2.11', nodeName: 'node-a' }, { ip: '192.0.2.13', nodeName: 'node-b' }], notReadyAddresses: [{ ip: '192.0.2.12', nodeName: 'node-b' }] },
      ],
    });
    const expected = new Map([
      ['node-a', 1],
      ['node-b', 1],
    ]);
    expect(endpointsFromSlices([beta])).toEqual(expected);
    expect(endpointsFromSlices([v1])).toEqual(expected);
    expect(core).toEqual(expected);
  });

  it('a cached slice keeps its key, its version and its Service key, not the rest of its metadata', () => {
    const s = decodeEndpointSlice({
      metadata: { name: 'web-x1', namespace: 'ns', uid: 'u', resourceVersion: '42', labels: { 'kubernetes.io/service-name': 'web', other: 'x' } },
      endpoints: [{ addresses: ['192.0.2.1'], nodeName: 'n1' }],
    });
    expect(objectKey(s)).toBe('ns/web-x1');
    expect(s.service).toBe('ns/web');
    expect(s.metadata).toEqual({ resourceVersion: '42' });
    expect(s.readyNodes).toEqual(['n1']);
    expect(decodeEndpointSlice({ metadata: { name: 'orphan', namespace: 'ns' } }).service).toBeUndefined();
  });

  it('merges slices, counts endpoints (not addresses), and files node-less endpoints under ""', () => {
    const a = decodeEndpointSlice({ metadata: { name: 'a' }, endpoints: [{ addresses: ['2001:db8::2', '2001:db8::1'], nodeName: 'n1' }] });
    const b = decodeEndpointSlice({ metadata: { name: 'b' }, endpoints: [{ addresses: ['2001:db8::1'], nodeName: 'n1' }, { addresses: ['2001:db8::9'] }] });
    expect(endpointsFromSlices([a, b])).toEqual(
      new Map([
        ['n1', 2],
        ['', 1],
      ]),
    );
    // Core Endpoints: an address listed twice is one endpoint.
    expect(endpointsFromEndpoints({ subsets: [{ addresses: [{ ip: '192.0.2.1', nodeName: 'n1' }] }, { addresses: [{ ip: '192.0.2.1', nodeName: 'n1' }] }] })).toEqual(new Map([['n1', 1]]));
  });

  it('slices with their ready endpoints on one node share one list of it (10,000s are cached)', () => {
    const slice = (name: string, node: string, ready: boolean): ReturnType<typeof decodeEndpointSlice> =>
      decodeEndpointSlice({ metadata: { name }, endpoints: [{ addresses: ['192.0.2.1'], nodeName: `node-${node}`, conditions: { ready } }] });
    expect(slice('a', 'x', true).readyNodes).toBe(slice('b', 'x', true).readyNodes);
    expect(slice('c', 'x', false).readyNodes).toEqual([]);
    const two = decodeEndpointSlice({ metadata: { name: 'd' }, endpoints: [{ addresses: ['192.0.2.1'], nodeName: 'node-x' }, { addresses: ['192.0.2.2'], nodeName: 'node-y' }] });
    expect(two.readyNodes).toEqual(['node-x', 'node-y']);
    expect(two.readyNodes[0]).toBe(slice('e', 'x', true).readyNodes[0]);
  });

  it('tolerates malformed slices without throwing', () => {
    const s = decodeEndpointSlice({ metadata: { name: 'x' }, endpoints: [{ addresses: 'nope' }, { addresses: [1, '192.0.2.1'] }] });
    expect(endpointsFromSlices([s])).toEqual(new Map([['', 1]]));
    expect(decodeEndpointSlice({ metadata: { name: 'y' }, endpoints: [null, 'x', { addresses: [] }] }).readyNodes).toEqual([]);
    expect(endpointsFromEndpoints(undefined)).toEqual(new Map());
  });
});

describe('ServiceEndpointsInformer: the daemon\'s own Service key strings', () => {
  it('asks serviceKey for each slice\'s Service (shared string); shareKeys re-keys the index for Services listed later; answers stay the same', async () => {
    const slice = (name: string, svc: string, node: string): unknown => ({
      metadata: { name, namespace: 'ns', resourceVersion: '5', labels: { 'kubernetes.io/service-name': svc } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['192.0.2.11'], conditions: { ready: true }, nodeName: node }],
    });
    const server = createServer((req, res) => {
      const watch = new URL(req.url ?? '/', 'http://x').searchParams.get('watch') === 'true';
      res.writeHead(200, { 'content-type': 'application/json' });
      if (watch) return; // an idle watch, closed with the server
      res.end(JSON.stringify({ metadata: { resourceVersion: '7' }, items: [slice('web-a', 'web', 'node-a'), slice('web-b', 'web', 'node-b'), slice('api-a', 'api', 'node-a')] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const kc: KubeAccess = { getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }), applyToHTTPSOptions: () => Promise.resolve() };
    const asked: string[] = [];
    const own = new Map([['ns/web', ['ns', 'web'].join('/')]]);
    const inf = await ServiceEndpointsInformer.create(kc, { api: 'discovery.k8s.io/v1', serviceKey: (key) => (asked.push(key), own.get(key)) });
    const changed: string[] = [];
    inf.on('change', (key) => changed.push(key));
    try {
      await inf.start();
      expect(asked).toEqual(['ns/web', 'ns/web', 'ns/api']);
      expect(changed).toEqual(['ns/web', 'ns/web', 'ns/api']);
      expect(new Map(inf.readyByNode('ns/web'))).toEqual(new Map([['node-a', 1], ['node-b', 1]]));
      // The api Service listed after its slice: its key is shared from now on, the index unchanged.
      const api = ['ns', 'api'].join('/');
      const looked: string[] = [];
      inf.shareKeys((key) => (looked.push(key), key === 'ns/api' ? api : own.get(key)));
      expect(looked).toEqual(['ns/web', 'ns/api']);
      expect(new Map(inf.readyByNode('ns/api'))).toEqual(new Map([['node-a', 1]]));
      expect(new Map(inf.readyByNode('ns/web'))).toEqual(new Map([['node-a', 1], ['node-b', 1]]));
      expect(new Map(inf.readyByNode('ns/none'))).toEqual(new Map());
      expect(inf.informer.list().map((s) => (s as { service?: string }).service).sort()).toEqual(['ns/api', 'ns/web', 'ns/web']);
    } finally {
      await inf.stop();
      server.closeAllConnections();
      server.close();
    }
  });
});
