// Watches survive a kube-apiserver restart and an etcd compaction (410 Gone -> re-list) without
// missing the final state. A private cluster, since these tests stop and start its processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../kube/informer.js';
import { decodeObject } from '../../kube/decode.js';
import { TestCluster } from './cluster.js';
import { CuttableProxy } from './proxy.js';
import { kubeConfig, waitFor } from './harness.js';
import { expectConsistentPagedList } from './consistent-list.js';

function configMaps(kc: KubeConfig, ns: string): Informer<V1ConfigMap> {
  return new Informer<V1ConfigMap>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${ns}/configmaps`,
    decode: decodeObject<V1ConfigMap>,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
}

/** name -> data.v of the cache, for comparing with the server. */
function snapshot(inf: Informer<V1ConfigMap>): Record<string, string | undefined> {
  return Object.fromEntries(inf.list().map((c) => [c.metadata?.name ?? '', c.data?.v]));
}

describe('watch resilience (private cluster)', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    // Without the watch cache, watches read etcd directly, so compaction itself produces the 410.
    cluster = await TestCluster.start({ extraApiserverArgs: ['--watch-cache=false'] });
    kc = kubeConfig(cluster.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  async function serverState(ns: string): Promise<Record<string, string | undefined>> {
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    return Object.fromEntries(list.items.map((c) => [c.metadata?.name ?? '', c.data?.v]));
  }

  it('lists consistently (writes acknowledged just before are in it) in pages sized by bytes (watch cache off)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'pages' } } });
    await expectConsistentPagedList(kc, 'pages');
  });

  it('survives a kube-apiserver restart (same etcd)', async () => {
    const ns = 'restart';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const n of ['keep', 'change', 'remove']) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n }, data: { v: '1' } } });
    const inf = configMaps(kc, ns);
    const errors: Error[] = [];
    inf.on('error', (e) => errors.push(e));
    const deleted: string[] = [];
    inf.on('delete', (o) => deleted.push(o.metadata?.name ?? ''));
    await inf.start();
    try {
      const watchesBefore = inf.stats.watches;
      await cluster.restartApiserver();
      await core.replaceNamespacedConfigMap({ namespace: ns, name: 'change', body: { metadata: { name: 'change' }, data: { v: '2' } } });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'remove' });
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'new' }, data: { v: '1' } } });
      const want = await serverState(ns);
      expect(want).toEqual({ keep: '1', change: '2', new: '1' });
      await waitFor('informer to converge after restart', () => JSON.stringify(snapshot(inf)) === JSON.stringify(want), 60_000);
      expect(inf.stats.watches).toBeGreaterThan(watchesBefore);
      expect(deleted).toEqual(['remove']);
    } finally {
      await inf.stop();
    }
  });

  it('re-lists after etcd compaction (410 Gone) and misses no final state', async () => {
    const ns = 'compaction';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const n of ['keep', 'change', 'remove']) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n }, data: { v: '1' } } });
    // The informer reaches the server through a relay we can cut; everyone else goes direct.
    const url = new URL(cluster.server);
    const proxy = await CuttableProxy.start(url.hostname, Number(url.port));
    const viaProxy = new KubeConfig();
    viaProxy.loadFromFile(cluster.kubeconfig);
    const c = viaProxy.getCurrentCluster();
    if (!c) throw new Error('no cluster in kubeconfig');
    viaProxy.clusters = viaProxy.clusters.map((x) => (x.name === c.name ? { ...x, server: `https://127.0.0.1:${proxy.port}` } : x));
    const inf = configMaps(viaProxy, ns);
    const deleted: string[] = [];
    inf.on('delete', (o) => deleted.push(o.metadata?.name ?? ''));
    await inf.start();
    try {
      const rvBefore = inf.resourceVersion;
      proxy.cut();
      await core.replaceNamespacedConfigMap({ namespace: ns, name: 'change', body: { metadata: { name: 'change' }, data: { v: '2' } } });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'remove' });
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'new' }, data: { v: '1' } } });
      for (let i = 0; i < 5; i++) {
        await core.replaceNamespacedConfigMap({ namespace: ns, name: 'change', body: { metadata: { name: 'change' }, data: { v: String(3 + i) } } });
      }
      const compactedAt = cluster.compact();
      expect(compactedAt).toBeGreaterThan(Number(rvBefore));
      proxy.restore();
      const want = await serverState(ns);
      expect(want).toEqual({ keep: '1', change: '7', new: '1' });
      await waitFor('informer to converge after compaction', () => JSON.stringify(snapshot(inf)) === JSON.stringify(want), 60_000);
      expect(inf.stats.gone).toBeGreaterThanOrEqual(1);
      expect(inf.stats.lists).toBeGreaterThanOrEqual(2);
      expect(deleted).toEqual(['remove']);
    } finally {
      await inf.stop();
      await proxy.close();
    }
  });
});
