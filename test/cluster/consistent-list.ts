// The informer's list against a real kube-apiserver (with its watch cache or without): consistent and
// paginated by bytes. Shared by informers.test.ts (watch cache on) and resilience.test.ts (off).
import { request as httpsRequest } from 'node:https';
import { expect } from 'vitest';
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { KubeAccess } from '../../kube/access.js';
import { Informer } from '../../kube/informer.js';
import { decodeObject } from '../../kube/decode.js';

/**
 * `kc` with every request's path and query recorded in `urls`; with `listDelayMs`, every answer but a
 * watch's is handed over that much later (so writes land between a list's pages).
 */
export function recording(kc: KubeConfig, urls: URL[], listDelayMs = 0): KubeAccess {
  return {
    getCurrentCluster: () => kc.getCurrentCluster(),
    applyToHTTPSOptions: (opts) => kc.applyToHTTPSOptions(opts),
    transport: (url, options, onResponse) => {
      urls.push(url);
      const late = listDelayMs > 0 && url.searchParams.get('watch') !== 'true';
      return httpsRequest(url, options, (res) => (late ? setTimeout(() => onResponse(res), listDelayMs) : onResponse(res)));
    },
  };
}

/**
 * 24 ConfigMaps of ~1 kB in `ns`, then, just before the informer starts, one changed and one more
 * created: its first list (pages of 4, then ~8 kB each) shows both (a read as new as the writes
 * acknowledged before it: no resourceVersion, never the watch cache's any-staleness read) and every
 * other, in fewer pages than 4 a page would take.
 */
export async function expectConsistentPagedList(kc: KubeConfig, ns: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const names = Array.from({ length: 24 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
  for (const name of names) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { v: '1', pad: 'x'.repeat(1000) } } });
  const urls: URL[] = [];
  const inf = new Informer<V1ConfigMap>({ kubeConfig: recording(kc, urls), path: `/api/v1/namespaces/${ns}/configmaps`, decode: decodeObject<V1ConfigMap>, pageSize: 4, pageBytes: 8000 });
  await core.patchNamespacedConfigMap({ namespace: ns, name: 'page-05', body: [{ op: 'replace', path: '/data/v', value: '2' }] });
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'page-zz' }, data: { v: 'new' } } });
  try {
    await inf.start();
    // Read at sync, before any watch event could add to it: the list alone.
    const cached = Object.fromEntries(inf.list().map((c) => [c.metadata?.name ?? '', c.data?.v]));
    expect(cached).toEqual({ ...Object.fromEntries(names.map((n) => [n, n === 'page-05' ? '2' : '1'])), 'page-zz': 'new' });
    const lists = urls.filter((u) => u.searchParams.get('watch') !== 'true');
    expect(lists.every((u) => !u.searchParams.has('resourceVersion') && !u.searchParams.has('resourceVersionMatch'))).toBe(true);
    const limits = lists.map((u) => Number(u.searchParams.get('limit')));
    expect(limits[0]).toBe(4);
    expect(limits.slice(1).every((l) => l > 4)).toBe(true);
    expect(lists.slice(1).every((u) => u.searchParams.has('continue'))).toBe(true);
    expect(lists.length).toBeLessThan(25 / 4);
    expect(inf.stats.lists).toBe(1);
  } finally {
    await inf.stop();
  }
}
