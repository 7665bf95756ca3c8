// The informer's paged list against the real kube-apiserver + etcd while objects are created,
// changed and deleted under it (issue 17: one speaker-rss run lost the tail of one list page):
// 3,000 ConfigMaps listed in small pages sized by bytes (~30 objects, so ~100 pages at first, each answer
// held back a little so that writes land between pages), writers running throughout. At sync
// every object of the list's snapshot arrived once (one add each, none for a key held); the
// events replayed from empty give the cache; once the writers stop the cache equals a final
// consistent list, object by object (name and resourceVersion).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../kube/informer.js';
import { decodeObject } from '../../kube/decode.js';
import { kubeRequest } from '../../kube/request.js';
import { freshNamespace, kubeConfig, waitFor } from './harness.js';
import { mirrorEvents } from '../unit/kube/informer-mirror.js';
import { recording } from './consistent-list.js';

const N = 3_000;
const PAD = 'x'.repeat(400);

/** Runs `fn` on each of `items` with `width` at a time. */
async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

describe('informer paged list under concurrent writes (real API server)', () => {
  let kc: KubeConfig;
  let ns: string;
  let path: string;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('paging');
    path = `/api/v1/namespaces/${ns}/configmaps`;
    const names = Array.from({ length: N }, (_, i) => `cm-${i}`);
    await inParallel(names, 16, async (name) => void (await kubeRequest(kc, 'POST', path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: '0', pad: PAD } } })));
  }, 240_000);

  afterAll(async () => {
    await kubeRequest(kc, 'DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  it('every object of the snapshot arrives once, and the cache ends equal to a final consistent list', async () => {
    const urls: URL[] = [];
    const inf = new Informer<V1ConfigMap>({ kubeConfig: recording(kc, urls, 15), path, decode: decodeObject<V1ConfigMap>, pageSize: 20, pageBytes: 24_000, backoff: { initialMs: 100, maxMs: 1000 } });
    const { mirror, faults, addsAtSync } = mirrorEvents(inf);

    // Writers: creates past the end and between the names, changes and deletes across the range.
    let writing = true;
    let writes = 0;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; writing; i++) {
        const target = `cm-${(i * 7919 + w * 104_729) % N}`;
        const kind = (i + w) % 3;
        try {
          if (kind === 0) await kubeRequest(kc, 'POST', path, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `new-${w}-${i}` }, data: { v: 'new', pad: PAD } } });
          else if (kind === 1) await kubeRequest(kc, 'PATCH', `${path}/${target}`, { body: { data: { v: String(i) } }, contentType: 'application/merge-patch+json' });
          else await kubeRequest(kc, 'DELETE', `${path}/${target}`);
          writes++;
        } catch {
          // 404: deleted already (or not created): the other writers' doing
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map((w) => writer(w)));
    try {
      await inf.start();
      // At sync, before any watch event: one add per object of the list, nothing else.
      expect([...addsAtSync.values()].every((n) => n === 1)).toBe(true);
      expect(addsAtSync.size).toBe(inf.size);
      const lists = urls.filter((u) => u.searchParams.get('watch') !== 'true');
      const writesDuringList = writes;
      // Keep writing through the watch a while, then stop.
      await new Promise((r) => setTimeout(r, 2000));
      writing = false;
      await writers;
      const final = (await kubeRequest(kc, 'GET', path)) as { metadata: { resourceVersion: string }; items: V1ConfigMap[] };
      const want = new Map(final.items.map((o) => [o.metadata?.name ?? '', o.metadata?.resourceVersion ?? '']));
      const cached = (): Map<string, string> => new Map(inf.list().map((o) => [o.metadata?.name ?? '', o.metadata?.resourceVersion ?? '']));
      await waitFor('the cache equal to the final list', () => {
        const c = cached();
        return c.size === want.size && [...want].every(([k, v]) => c.get(k) === v);
      }, 60_000);
      expect(cached()).toEqual(want);
      expect(mirror).toEqual(want);
      expect(faults).toEqual([]);
      // Many pages of changing sizes, writes landing between them.
      expect(lists.length).toBeGreaterThan(20);
      expect(new Set(lists.map((u) => u.searchParams.get('limit'))).size).toBeGreaterThan(1);
      expect(writesDuringList).toBeGreaterThan(0);
      console.log(`${lists.length} list pages (limits ${[...new Set(lists.map((u) => u.searchParams.get('limit')))].join(',')}), ${writesDuringList} writes during the list, ${writes} in all, ${inf.stats.lists} list(s), ${want.size} objects at the end`);
    } finally {
      writing = false;
      await writers;
      await inf.stop();
    }
  }, 300_000);
});
