// Informers against the real API server: create, update and delete of every kind Herald watches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CoreV1Api, V1MicroTime, type KubeConfig, type V1ConfigMap, type KubernetesObject } from '@kubernetes/client-node';
import { configMapInformer, leaseInformer, nodeInformer, serviceInformer } from '../../kube/informers.js';
import { Informer } from '../../kube/informer.js';
import { decodeObject } from '../../kube/decode.js';
import { freshNamespace, kubeConfig, uniqueName, waitFor } from './harness.js';
import { expectConsistentPagedList } from './consistent-list.js';

/** Records informer callbacks as "event name" strings. */
function recorder<T extends KubernetesObject>(inf: Informer<T>): string[] {
  const log: string[] = [];
  inf
    .on('add', (o) => log.push(`add ${o.metadata?.name}`))
    .on('update', (o, old) => log.push(`update ${o.metadata?.name} ${old ? 'with-old' : 'no-old'}`))
    .on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
  return log;
}

describe('informers', () => {
  let kc: KubeConfig;
  let ns: string;
  let core: CoreV1Api;
  const started: Informer<KubernetesObject>[] = [];

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('inf');
    core = kc.makeApiClient(CoreV1Api);
  });
  afterAll(async () => {
    await Promise.all(started.map((i) => i.stop()));
  });

  async function run<T extends KubernetesObject>(inf: Informer<T>): Promise<string[]> {
    const log = recorder(inf);
    started.push(inf as unknown as Informer<KubernetesObject>);
    await inf.start();
    expect(inf.hasSynced()).toBe(true);
    return log;
  }

  it('Services: add, update, delete', async () => {
    const inf = serviceInformer(kc, { namespace: ns });
    const log = await run(inf);
    const name = uniqueName('svc');
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } });
    await waitFor('service add', () => inf.get(`${ns}/${name}`));
    expect(inf.get(`${ns}/${name}`)?.spec?.type).toBe('LoadBalancer');
    // Plain JSON: timestamps stay RFC 3339 strings, managedFields are dropped from the cache.
    const cached = inf.get(`${ns}/${name}`);
    expect(cached?.metadata?.creationTimestamp as unknown).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(cached?.metadata?.managedFields).toBeUndefined();
    await core.patchNamespacedService(
      { namespace: ns, name, body: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }] },
    );
    await waitFor('service update', () => inf.get(`${ns}/${name}`)?.metadata?.labels?.a === 'b');
    await core.deleteNamespacedService({ namespace: ns, name });
    await waitFor('service delete', () => !inf.get(`${ns}/${name}`));
    expect(log).toEqual([`add ${name}`, `update ${name} with-old`, `delete ${name}`]);
  });

  it('Nodes: add, update, delete (cluster-scoped)', async () => {
    const inf = nodeInformer(kc);
    const log = await run(inf);
    const name = uniqueName('node');
    await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
    await waitFor('node add', () => inf.get(name));
    await core.replaceNodeStatus({
      name,
      body: { ...(await core.readNode({ name })), status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    await waitFor('node status update', () => inf.get(name)?.status?.conditions?.[0]?.status === 'True');
    await core.deleteNode({ name });
    await waitFor('node delete', () => !inf.get(name));
    expect(log.filter((l) => l.endsWith(name) || l.includes(`${name} `))).toEqual([`add ${name}`, `update ${name} with-old`, `delete ${name}`]);
  });

  it('ConfigMap: only the named one, add, update, delete', async () => {
    const inf = configMapInformer(kc, ns, 'config');
    const log = await run(inf);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'other' }, data: { x: '1' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'config' }, data: { config: 'a' } } });
    await waitFor('configmap add', () => inf.get(`${ns}/config`));
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'config', body: { metadata: { name: 'config' }, data: { config: 'b' } } });
    await waitFor('configmap update', () => inf.get(`${ns}/config`)?.data?.config === 'b');
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'config' });
    await waitFor('configmap delete', () => !inf.get(`${ns}/config`));
    expect(log).toEqual(['add config', 'update config with-old', 'delete config']);
    expect(inf.size).toBe(0);
  });

  it('Leases: add, update, delete', async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const inf = leaseInformer(kc, ns);
    const log = await run(inf);
    const now = new V1MicroTime();
    await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 10, renewTime: now } } });
    await waitFor('lease add', () => inf.get(`${ns}/l`));
    const cur = await coord.readNamespacedLease({ namespace: ns, name: 'l' });
    await coord.replaceNamespacedLease({ namespace: ns, name: 'l', body: { ...cur, spec: { ...cur.spec, holderIdentity: 'b' } } });
    await waitFor('lease update', () => inf.get(`${ns}/l`)?.spec?.holderIdentity === 'b');
    await coord.deleteNamespacedLease({ namespace: ns, name: 'l' });
    await waitFor('lease delete', () => !inf.get(`${ns}/l`));
    expect(log).toEqual(['add l', 'update l with-old', 'delete l']);
  });

  it('a cache started after objects exist lists them, paginated', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `pre-${i}`);
    await Promise.all(names.map((name) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } })));
    const inf = new Informer<V1ConfigMap>({ kubeConfig: kc, path: `/api/v1/namespaces/${ns}/configmaps`, pageSize: 2, decode: decodeObject<V1ConfigMap> });
    const log = await run(inf);
    expect(inf.list(ns).map((c) => c.metadata?.name).filter((n) => n?.startsWith('pre-')).sort()).toEqual(names);
    expect(log.filter((l) => l.startsWith('add pre-')).length).toBe(7);
  });

  it('lists consistently (writes acknowledged just before are in it) in pages sized by bytes (watch cache on)', async () => {
    await expectConsistentPagedList(kc, await freshNamespace('pages'));
  });
});
