// The speaker's API-health metrics (issue 16's, fed since issue 17): herald_k8s_api_throttled_total counts
// every 429 its requests wait out, herald_watch_last_event_seconds follows each informer it runs. Against a
// fake API server on loopback that throttles the first list, with the speaker's own metrics class.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../../kube/informer.js';
import { decodeObject } from '../../../kube/decode.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';

let server: Server | undefined;
let inf: Informer<V1ConfigMap> | undefined;
afterEach(async () => {
  await inf?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('speaker metrics fed by the API client and informers', () => {
  it('counts the 429s waited out and reports the age of each watch', async () => {
    let throttled = 2;
    server = createServer((req, res) => {
      const watch = new URL(req.url ?? '/', 'http://x').searchParams.get('watch') === 'true';
      res.writeHead(!watch && throttled-- > 0 ? 429 : 200, { 'content-type': 'application/json', 'retry-after': '0' });
      if (watch) return; // an idle open watch
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [] }));
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const metrics = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    const stop = metrics.countThrottled(kc);
    inf = new Informer<V1ConfigMap>({ kubeConfig: kc, path: '/api/v1/namespaces/ns/configmaps', decode: decodeObject<V1ConfigMap> });
    metrics.watchInformer(inf);
    expect(await metrics.registry.metrics()).not.toMatch(/^herald_watch_last_event_seconds\{/m); // nothing listed yet
    await inf.start();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^herald_k8s_api_throttled_total 2$/m);
    const age = /^herald_watch_last_event_seconds\{resource="configmaps"\} (\S+)$/m.exec(text);
    expect(Number(age?.[1])).toBeGreaterThanOrEqual(0);
    expect(Number(age?.[1])).toBeLessThan(60);
    expect(text).toMatch(/^herald_watch_resumed_early_total\{resource="configmaps"\} 0$/m);
    stop();
  });
});
