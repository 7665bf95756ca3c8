// The IPAddressPool status writer: writes a pool's counts only when they differ from what it shows
// (or from what this process wrote last, which the informer may not show yet), paces flushes so a
// burst of reports costs each pool one write, writes again a pool recreated under its name, skips
// pools without an object, and retries API errors. poolCountsOf: MetalLB's fields from the allocator.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../kube/clock.js';
import { PoolStatusWriter, type PoolCounts } from '../../../kube/pool-status.js';
import { COUNT_CAP, poolCountsOf } from '../../../controller/pool-status.js';
import { Allocator } from '../../../allocator/allocator.js';
import { parseConfig } from '../../../config/parse.js';
import { FakeObjectStore } from './fake-object-store.js';

const COLLECTION = 'ns/ipaddresspools';
const PATH = '/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools';
const counts = (assignedIPv4: number): PoolCounts => ({ assignedIPv4, assignedIPv6: 0, availableIPv4: 16 - assignedIPv4, availableIPv6: 0 });

let store: FakeObjectStore;
const writers: PoolStatusWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) w.close();
  await store.stop();
});

type Pool = { metadata: { name: string; namespace: string; uid?: string }; status?: Partial<PoolCounts> };
const pool = (name: string): Pool | undefined => store.objects.get(`${COLLECTION}/${name}`) as Pool | undefined;

async function writer(opts: { minIntervalMs?: number; onError?: (e: unknown) => void } = {}): Promise<PoolStatusWriter> {
  const kc = await store.start();
  const w = new PoolStatusWriter({ kubeConfig: kc, namespace: 'ns', clock: systemClock, minIntervalMs: opts.minIntervalMs ?? 0, stored: (name) => pool(name) && { uid: pool(name)?.metadata.uid, status: pool(name)?.status }, onError: opts.onError ?? (() => undefined) });
  writers.push(w);
  return w;
}

describe('PoolStatusWriter', () => {
  it('writes the counts of pools that have an object, once; the same counts again write nothing', async () => {
    store = new FakeObjectStore();
    store.put(COLLECTION, { metadata: { name: 'front', namespace: 'ns', uid: 'u1' } });
    const w = await writer();
    w.report(new Map([['front', counts(1)], ['from-configmap', counts(2)]]));
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(1)));
    w.report(new Map([['front', counts(1)], ['from-configmap', counts(2)]]));
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([`PATCH ${PATH}/front/status`]);
  });

  it('a burst of reports while paced is one write of the newest counts; what a pool shows already is not written (restart)', async () => {
    store = new FakeObjectStore();
    store.put(COLLECTION, { metadata: { name: 'front', namespace: 'ns', uid: 'u1' }, status: counts(3) });
    const w = await writer({ minIntervalMs: 300 });
    w.report(new Map([['front', counts(3)]]));
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([]);
    for (let i = 4; i <= 14; i++) w.report(new Map([['front', counts(i)]]));
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(14)), { timeout: 3000 });
    expect(store.writes.length).toBeLessThanOrEqual(2);
  });

  it('a pool recreated under its name is written again; a pool gone (404) is no error; errors are retried', async () => {
    store = new FakeObjectStore();
    store.put(COLLECTION, { metadata: { name: 'front', namespace: 'ns', uid: 'u1' } });
    const errors: unknown[] = [];
    const w = await writer({ onError: (e) => errors.push(e) });
    w.report(new Map([['front', counts(1)]]));
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(1)));
    store.objects.delete(`${COLLECTION}/front`);
    store.put(COLLECTION, { metadata: { name: 'front', namespace: 'ns', uid: 'u2' } });
    w.report(new Map([['front', counts(1)]]));
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(1)));
    expect(store.writes).toHaveLength(2);
    store.failWith = 500;
    w.report(new Map([['front', counts(2)]]));
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0));
    store.failWith = undefined;
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(2)), { timeout: 5000 });
    expect(errors).toHaveLength(1);
  });

  it('a throttled write (429) is not retried before the server\'s Retry-After, though the backoff would be sooner', async () => {
    store = new FakeObjectStore();
    store.put(COLLECTION, { metadata: { name: 'front', namespace: 'ns', uid: 'u1' } });
    store.failWith = 429;
    store.retryAfterS = 2;
    const w = await writer();
    w.report(new Map([['front', counts(1)]]));
    await vi.waitFor(() => expect(store.failedAt.length).toBe(2), { timeout: 6000 });
    store.failWith = undefined;
    // The backoff's first step is at most 1 s; the Retry-After (2 s) floors it.
    expect(store.failedAt[1] - store.failedAt[0]).toBeGreaterThanOrEqual(1_900);
    await vi.waitFor(() => expect(pool('front')?.status).toEqual(counts(1)), { timeout: 8000 });
  }, 15_000);
});

describe('poolCountsOf', () => {
  it('assigned and available per family, MetalLB\'s names; huge IPv6 pools capped at 2^53 - 1', () => {
    const config = parseConfig('address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/28, 2001:db8::/120]\n- name: b\n  protocol: layer2\n  addresses: [2001:db8:1::/64]\n');
    const alloc = new Allocator(config);
    const stats = alloc.stats();
    const a = poolCountsOf(stats.find((s) => s.name === 'a') ?? stats[0]);
    expect(a.assignedIPv4).toBe(0);
    expect(a.assignedIPv6).toBe(0);
    expect(a.availableIPv4 + a.assignedIPv4).toBe(Number(stats[0].ipv4?.total));
    expect(a.availableIPv6).toBe(Number(stats[0].ipv6?.total));
    expect(poolCountsOf(stats.find((s) => s.name === 'b') ?? stats[1])).toEqual({ assignedIPv4: 0, assignedIPv6: 0, availableIPv4: 0, availableIPv6: COUNT_CAP });
  });
});
