// ServiceL2Status / ServiceBGPStatus objects of one speaker: created with MetalLB's labels and the
// speaker Pod as owner, deleted when the node stops announcing; a restarted speaker lists its objects
// and writes only the differences (none when it announces what it did); pending writes coalesce.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../protocols/clock.js';
import { Entries, keptVersion, ServiceStatusObjects, statusObjectName, versionText } from '../../../speaker/service-status-objects.js';
import { FakeObjectStore } from '../kube/fake-object-store.js';

const L2 = 'ns/servicel2statuses';
const BGP = 'ns/servicebgpstatuses';
const pod = { name: 'speaker-x1', uid: 'uid-1' };

let store: FakeObjectStore;
const open: ServiceStatusObjects[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) o.close();
  await store.stop();
});

async function objects(opts: { pod?: typeof pod; paused?: boolean; life?: () => number; ratePerSecond?: number; burst?: number } = {}): Promise<ServiceStatusObjects> {
  const kc = await store.start();
  const o = new ServiceStatusObjects({ kubeConfig: kc, namespace: 'ns', node: 'n1', clock: systemClock, pod: 'pod' in opts ? opts.pod : pod, paused: opts.paused, life: opts.life, ratePerSecond: opts.ratePerSecond ?? 1000, burst: opts.burst ?? 1000, onError: () => undefined });
  open.push(o);
  return o;
}

type Obj = { metadata: { name: string; labels: Record<string, string>; ownerReferences?: { uid: string; kind: string; name: string }[] }; status?: Record<string, unknown> };
const all = (collection: string): Obj[] => store.list(collection) as unknown as Obj[];

/** A fresh store in which a first life of this speaker announced default/web, then stopped (its object left behind). */
async function firstLifeLeftWeb(): Promise<void> {
  store = new FakeObjectStore();
  const first = await objects();
  await first.start();
  first.set('layer2', 'default/web', ['eth0']);
  await vi.waitFor(() => expect(all(L2)[0]?.status).toBeDefined());
  first.close();
  await store.stop();
}

describe('ServiceStatusObjects', () => {
  it('one object per announced Service and protocol, with MetalLB\'s fields and labels, owned by the speaker Pod; deleted when withdrawn', async () => {
    store = new FakeObjectStore();
    const o = await objects();
    await o.start();
    o.set('layer2', 'default/web', ['eth1', 'eth0']);
    o.set('bgp', 'default/api', ['192.0.2.1']);
    await vi.waitFor(() => expect(all(L2)[0]?.status).toEqual({ node: 'n1', serviceName: 'web', serviceNamespace: 'default', interfaces: [{ name: 'eth0' }, { name: 'eth1' }] }));
    await vi.waitFor(() => expect(all(BGP)[0]?.status).toEqual({ node: 'n1', serviceName: 'api', serviceNamespace: 'default', peers: ['192.0.2.1'] }));
    const l2 = all(L2)[0];
    expect(l2.metadata.name).toBe(statusObjectName('layer2', 'n1', 'default/web'));
    expect(l2.metadata.name).toMatch(/^l2-[0-9a-f]{16}$/);
    expect(l2.metadata.labels).toEqual({ 'metallb.io/node': 'n1', 'metallb.io/service-name': 'web', 'metallb.io/service-namespace': 'default' });
    expect(l2.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: 'speaker-x1', uid: 'uid-1' }]);
    expect(store.writes).toHaveLength(4); // two creates, two status writes
    // The same again: nothing.
    o.set('layer2', 'default/web', ['eth0', 'eth1']);
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toHaveLength(4);
    o.delete('bgp', 'default/api');
    await vi.waitFor(() => expect(all(BGP)).toEqual([]));
    expect(store.writes.at(-1)).toMatch(/^DELETE .*servicebgpstatuses\/bgp-/);
  });

  it('a restart announcing the same writes nothing; it fixes what differs, deletes what it no longer announces and strays', async () => {
    store = new FakeObjectStore();
    const first = await objects();
    await first.start();
    for (const s of ['a', 'b', 'c']) first.set('layer2', `default/${s}`, ['eth0']);
    await vi.waitFor(() => expect(all(L2).filter((x) => x.status)).toHaveLength(3));
    first.close();
    await store.stop();
    // Someone else's object of this node under another name (e.g. MetalLB's generateName).
    store.put(L2, { metadata: { name: 'l2-abcde', namespace: 'ns', labels: { 'metallb.io/node': 'n1', 'metallb.io/service-name': 'a', 'metallb.io/service-namespace': 'default' } } });
    // Another node's object is not ours.
    store.put(L2, { metadata: { name: 'l2-other', namespace: 'ns', labels: { 'metallb.io/node': 'n2', 'metallb.io/service-name': 'z', 'metallb.io/service-namespace': 'default' } } });
    store.writes.length = 0;

    const second = await objects();
    // Decided before the list came back (as the speaker does): compared once the list is in.
    second.set('layer2', 'default/a', ['eth0']);
    second.set('layer2', 'default/b', ['eth0', 'eth1']);
    await second.start();
    await vi.waitFor(() => expect(store.writes).toHaveLength(3));
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes.sort()).toEqual([
      `DELETE /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/c')}`,
      'DELETE /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/l2-abcde',
      `PUT /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/b')}/status`,
    ]);
    expect(all(L2).map((x) => x.metadata.labels['metallb.io/service-name']).sort()).toEqual(['a', 'b', 'z']);
  });

  it('a restart lists its objects in pages (1,201 objects: 500, 500, 201) and, announcing the same, writes nothing', async () => {
    await firstLifeLeftWeb();
    // The rest as the first life would have left them (same owner, node and interfaces).
    const [template] = all(L2);
    for (let i = 0; i < 1200; i++) {
      const svc = `s-${i}`;
      store.put(L2, { ...structuredClone(template), metadata: { ...structuredClone(template.metadata), name: statusObjectName('layer2', 'n1', `default/${svc}`), labels: { ...template.metadata.labels, 'metallb.io/service-name': svc } } } as never);
    }
    store.writes.length = 0;
    const listed: number[] = [];
    const second = new ServiceStatusObjects({ kubeConfig: await store.start(), namespace: 'ns', node: 'n1', clock: systemClock, pod, ratePerSecond: 1000, burst: 1000, onError: () => undefined, onListed: (n) => listed.push(n) });
    open.push(second);
    second.set('layer2', 'default/web', ['eth0']);
    for (let i = 0; i < 1200; i++) second.set('layer2', `default/s-${i}`, ['eth0']);
    store.lists.length = 0;
    await second.start();
    const pages = store.lists.filter((u) => u.pathname.endsWith('/servicel2statuses')).map((u) => [u.searchParams.get('labelSelector'), u.searchParams.get('limit'), u.searchParams.get('continue')]);
    expect(pages).toEqual([['metallb.io/node=n1', '500', null], ['metallb.io/node=n1', '500', '500'], ['metallb.io/node=n1', '500', '1000']]);
    expect(listed).toEqual([1201]);
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([]);
  });

  it('a new speaker Pod adopts its node\'s objects (owner reference) before the garbage collector takes them', async () => {
    await firstLifeLeftWeb();
    store.writes.length = 0;
    const second = await objects({ pod: { name: 'speaker-x2', uid: 'uid-2' } });
    second.set('layer2', 'default/web', ['eth0']);
    await second.start();
    await vi.waitFor(() => expect(all(L2)[0]?.metadata.ownerReferences?.[0]?.uid).toBe('uid-2'));
    expect(store.writes).toEqual([`PUT /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/web')}`]);
  });

  it('layer2 objects carry the writer\'s life; a new life rewrites it once on each object still announced, BGP objects carry none', async () => {
    store = new FakeObjectStore();
    let life = 1_800_000_000_123;
    const o = await objects({ life: () => life });
    await o.start();
    o.set('layer2', 'default/web', ['eth0']);
    o.set('layer2', 'default/db', ['eth0']);
    o.set('bgp', 'default/api', ['192.0.2.1']);
    await vi.waitFor(() => expect([...all(L2), ...all(BGP)].filter((x) => x.status)).toHaveLength(3));
    const lifeOf = (x: Obj | undefined): string | undefined => (x?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.['herald.io/speaker-life'];
    expect(all(L2).map(lifeOf)).toEqual(['1800000000123', '1800000000123']);
    expect(lifeOf(all(BGP)[0])).toBeUndefined();
    store.writes.length = 0;
    o.lifeChanged(); // same life: nothing
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([]);
    life = 1_800_000_009_999;
    o.delete('layer2', 'default/db');
    o.lifeChanged();
    await vi.waitFor(() => expect(store.writes).toHaveLength(2));
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes.sort()).toEqual([
      `DELETE /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/db')}`,
      `PUT /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/web')}`,
    ]);
    expect(all(L2).map(lifeOf)).toEqual(['1800000009999']);
    expect(all(L2)[0]?.status?.interfaces).toEqual([{ name: 'eth0' }]);
  });

  it('a new life rewrites every announced object once, through one sweep in the pacer\'s line (not a queued write per object)', async () => {
    store = new FakeObjectStore();
    let life = 1_800_000_000_123;
    const o = await objects({ life: () => life, ratePerSecond: 200, burst: 1 });
    await o.start();
    for (let i = 0; i < 30; i++) o.set('layer2', `default/s-${i}`, ['eth0']);
    await vi.waitFor(() => expect(all(L2).filter((x) => x.status)).toHaveLength(30), { timeout: 5_000 });
    store.writes.length = 0;
    life = 1_800_000_009_999;
    o.lifeChanged();
    expect(o.queued).toBeLessThanOrEqual(1);
    // Marked meanwhile: joins the line beside the sweep, written once too.
    o.set('layer2', 'default/s-3', ['eth1']);
    await vi.waitFor(() => expect(store.writes.filter((w) => !w.endsWith('/status'))).toHaveLength(30), { timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 100));
    const puts = store.writes.filter((w) => !w.endsWith('/status'));
    expect(new Set(puts).size).toBe(30);
    expect(store.writes.filter((w) => w.endsWith('/status'))).toEqual([`PUT /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/s-3')}/status`]);
    expect(o.queued).toBe(0);
  });

  it('a layer2 takeover names the failed owner on the object (one write when it changes); BGP objects never carry one', async () => {
    store = new FakeObjectStore();
    const kc = await store.start();
    const o = new ServiceStatusObjects({ kubeConfig: kc, namespace: 'ns', node: 'n1', clock: systemClock, pod, life: () => 1_800_000_000_123, ratePerSecond: 1000, burst: 1000, onError: () => undefined });
    open.push(o);
    await o.start();
    o.set('layer2', 'default/web', ['eth0'], 'n2');
    o.set('layer2', 'default/db', ['eth0']);
    o.set('bgp', 'default/api', ['192.0.2.1'], 'n2');
    await vi.waitFor(() => expect([...all(L2), ...all(BGP)].filter((x) => x.status)).toHaveLength(3));
    const annotations = (x: Obj | undefined): Record<string, string> | undefined => (x?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
    const byName = (n: string): Obj | undefined => all(L2).find((x) => x.metadata.name === statusObjectName('layer2', 'n1', n));
    expect(annotations(byName('default/web'))).toEqual({ 'herald.io/speaker-life': '1800000000123', 'herald.io/took-over-from': 'n2' });
    expect(annotations(byName('default/db'))).toEqual({ 'herald.io/speaker-life': '1800000000123' });
    expect(annotations(all(BGP)[0])).toBeUndefined();
    store.writes.length = 0;
    o.set('layer2', 'default/web', ['eth0'], 'n2'); // the same: nothing
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([]);
    o.set('layer2', 'default/web', ['eth0']); // announced anew, not a takeover: the annotation goes
    await vi.waitFor(() => expect(annotations(byName('default/web'))).toEqual({ 'herald.io/speaker-life': '1800000000123' }));
    expect(store.writes).toEqual([`PUT /apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses/${statusObjectName('layer2', 'n1', 'default/web')}`]);
  });

  it('while paused (Lease renewals unhealthy) nothing is written; changes meanwhile coalesce to the newest', async () => {
    store = new FakeObjectStore();
    const o = await objects({ paused: true });
    await o.start();
    o.set('layer2', 'default/web', ['eth0']);
    o.set('layer2', 'default/web', ['eth1']);
    o.set('bgp', 'default/gone', ['192.0.2.1']);
    o.delete('bgp', 'default/gone');
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toEqual([]);
    o.setPaused(false);
    await vi.waitFor(() => expect(all(L2)[0]?.status?.interfaces).toEqual([{ name: 'eth1' }]));
    expect(store.writes).toHaveLength(2);
    expect(all(BGP)).toEqual([]);
  });

  it('the kind not served: said once, nothing written', async () => {
    store = new FakeObjectStore();
    const kc = await store.start();
    const unavailable: string[] = [];
    const o = new ServiceStatusObjects({ kubeConfig: kc, namespace: 'ns', node: 'n1', clock: systemClock, onError: () => undefined, onUnavailable: (k) => unavailable.push(k) });
    open.push(o);
    store.failWith = 404;
    await o.start();
    o.set('layer2', 'default/web', ['eth0']);
    await new Promise((r) => setTimeout(r, 50));
    expect(unavailable).toEqual(['ServiceL2Status', 'ServiceBGPStatus']);
    expect(store.writes).toEqual([]);
  });

  it('a kept resourceVersion gives its text back: small canonical numbers kept as numbers, anything else as the text', () => {
    for (const rv of ['1', '42', '999999999', '1000000000', '0', '007', '1e5', '-1', ' 1', '12345678901234567890', 'abc', '']) {
      expect(versionText(keptVersion(rv))).toBe(rv);
      expect(typeof keptVersion(rv)).toBe(/^[1-9]\d{0,8}$/.test(rv) ? 'number' : 'string');
    }
    expect(keptVersion(undefined)).toBeUndefined();
  });
});

describe('Entries (what is announced and stored per key)', () => {
  it('stored objects alike share one shape (name, annotations, owners, status); each keeps its own resourceVersion', () => {
    const e = new Entries();
    const annotations = { 'herald.io/speaker-life': '5' };
    const owners = ['uid-1'];
    const status = { node: 'n1', via: ['eth0'] };
    for (let i = 0; i < 3; i++) e.stored.set(`ns/s${i}`, { name: undefined, resourceVersion: 10 + i, annotations, owners, status });
    e.stored.set('layer2|ns/s3|l2-other', { name: 'l2-other', resourceVersion: 20, annotations, owners, status });
    e.desired.set('ns/s0', ['eth0']);
    const [a, b, c, stray] = ['ns/s0', 'ns/s1', 'ns/s2', 'layer2|ns/s3|l2-other'].map((k) => e.stored.get(k) as unknown as { shape: object; resourceVersion: number; name?: string });
    expect(a?.shape).toBe(b?.shape);
    expect(b?.shape).toBe(c?.shape);
    expect(stray?.shape).not.toBe(a?.shape);
    expect([a?.resourceVersion, b?.resourceVersion, c?.resourceVersion, stray?.resourceVersion]).toEqual([10, 11, 12, 20]);
    expect(e.stored.get('ns/s1')).toMatchObject({ name: undefined, annotations, owners, status });
    expect(stray?.name).toBe('l2-other');
    expect(e.stored.size()).toBe(4);
    // Deleting what is stored keeps what is announced; an entry goes once it is in neither.
    expect(e.stored.delete('ns/s0')).toBe(true);
    expect(e.stored.get('ns/s0')).toBeUndefined();
    expect(e.desired.get('ns/s0')).toEqual(['eth0']);
    expect(e.desired.delete('ns/s0')).toBe(true);
    expect([...e.desired.keys()]).toEqual([]);
    expect([...e.stored.keys()]).toEqual(['ns/s1', 'ns/s2', 'layer2|ns/s3|l2-other']);
    expect(e.stored.size()).toBe(3);
  });
});
