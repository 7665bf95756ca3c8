// Who holds which layer2 Service, from every speaker's ServiceL2Status objects: only Herald's own
// objects (its name for node and Service) with a life annotation hold; each change names the
// Service to decide again; a kind not served (404) or not readable (403) ends the start at once.
import { describe, expect, it } from 'vitest';
import type { InformerEventHandler, InformerSource } from '../../../kube/informer.js';
import { KubeApiError } from '../../../kube/request.js';
import { decodeHolding, Layer2Holders, type Holding } from '../../../speaker/layer2-holders.js';
import type { Hold } from '../../../speaker/layer2-owner.js';
import { LIFE_ANNOTATION, statusObjectName, TAKEOVER_ANNOTATION } from '../../../speaker/service-status-objects.js';

function raw(node: string, service: string, life?: string, name = statusObjectName('layer2', node, service), tookOverFrom?: string): unknown {
  const [namespace, svc] = service.split('/');
  return {
    metadata: {
      name,
      namespace: 'ns',
      labels: { 'metallb.io/node': node, 'metallb.io/service-name': svc, 'metallb.io/service-namespace': namespace },
      annotations: { ...(life !== undefined ? { [LIFE_ANNOTATION]: life } : {}), ...(tookOverFrom !== undefined ? { [TAKEOVER_ANNOTATION]: tookOverFrom } : {}) },
    },
    status: { node },
  };
}

/** An informer the test drives by hand. */
class HandSource implements InformerSource<Holding> {
  private readonly handlers: Record<string, Array<(...a: never[]) => void>> = { add: [], update: [], delete: [], error: [] };
  startResult: Promise<void> = Promise.resolve();
  stopped = false;
  on(event: 'add' | 'update' | 'delete', handler: InformerEventHandler<Holding>): this;
  on(event: 'error', handler: (err: Error) => void): this;
  on(event: string, handler: (...a: never[]) => void): this {
    this.handlers[event]?.push(handler);
    return this;
  }
  fire(event: 'add' | 'update' | 'delete', obj: Holding, old?: Holding): void {
    for (const h of this.handlers[event] ?? []) (h as InformerEventHandler<Holding>)(obj, old);
  }
  error(err: Error): void {
    for (const h of this.handlers.error ?? []) (h as (e: Error) => void)(err);
  }
  start(): Promise<void> {
    return this.startResult;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  get(): undefined {
    return undefined;
  }
  list(): Holding[] {
    return [];
  }
  keys(): string[] {
    return [];
  }
  readonly size = 0;
  /** relist() callers not answered yet (the test resolves them as the list is applied). */
  relists: (() => void)[] = [];
  relist(): Promise<void> {
    return new Promise((resolve) => this.relists.push(resolve));
  }
}

function holders(source: HandSource) {
  const changed: string[] = [];
  const unavailable: number[] = [];
  const h = new Layer2Holders({ kubeConfig: undefined as never, namespace: 'ns', source, onChange: (s) => changed.push(s), onUnavailable: (s) => unavailable.push(s), onError: () => undefined });
  return { h, changed, unavailable };
}

describe('Layer2Holders', () => {
  it('decodes node, Service and life; objects under another name or without a life hold nothing', () => {
    expect(decodeHolding(raw('n1', 'default/web', '1800000000123'))).toMatchObject({ node: 'n1', service: 'default/web', life: 1800000000123 });
    expect(decodeHolding(raw('n1', 'default/web')).life).toBeUndefined();
    expect(decodeHolding(raw('n1', 'default/web', 'yesterday')).life).toBeUndefined();
    expect(decodeHolding(raw('n1', 'default/web', '5', 'l2-metallb-x')).life).toBeUndefined();
    expect(() => decodeHolding(null)).toThrow(/ServiceL2Status/);
  });

  it('decodes the takeover: a node name, or nothing when absent or not a node name', () => {
    const name = statusObjectName('layer2', 'n1', 'default/web');
    expect(decodeHolding(raw('n1', 'default/web', '5', name, 'node-a.example')).tookOverFrom).toBe('node-a.example');
    expect(decodeHolding(raw('n1', 'default/web', '5', name)).tookOverFrom).toBeUndefined();
    for (const bad of ['', 'Node-A', '-a', 'a b', 'x'.repeat(254)]) expect(decodeHolding(raw('n1', 'default/web', '5', name, bad)).tookOverFrom).toBeUndefined();
  });

  it('holdings alike share one frozen Hold (life and takeover): no boxed life per holding', () => {
    const { h } = holders(new HandSource());
    const a = h.decode(raw('n1', 'default/a', '1800000000123'));
    const b = h.decode(raw('n1', 'default/b', '1800000000123'));
    const c = h.decode(raw('n1', 'default/c', '1800000000123', undefined, 'n2'));
    const d = h.decode(raw('n1', 'default/d', '1800000000124'));
    expect(a.hold).toBe(b.hold);
    expect(a.hold).toEqual({ life: 1800000000123, tookOverFrom: undefined });
    expect(c.hold).toEqual({ life: 1800000000123, tookOverFrom: 'n2' });
    expect(h.decode(raw('n3', 'default/e', '1800000000123', undefined, 'n2')).hold).toBe(c.hold);
    expect(d.hold).not.toBe(a.hold);
    expect(Object.isFrozen(a.hold)).toBe(true);
    expect([b.life, b.tookOverFrom, c.tookOverFrom]).toEqual([1800000000123, undefined, 'n2']);
    expect(b.get('n1')).toBe(a.hold);
    expect([...c.entries()]).toEqual([['n1', c.hold]]);
    // No life (or not Herald's name): no Hold, holds nothing.
    const none = h.decode(raw('n1', 'default/f', undefined, undefined, 'n2'));
    expect([none.hold, none.life, none.tookOverFrom, none.get('n1'), [...none.entries()]]).toEqual([undefined, undefined, undefined, undefined, []]);
  });

  it('shareKeys: the index and the holdings of a Service take the speaker\'s own key string (one holder or several); answers unchanged', async () => {
    const source = new HandSource();
    const { h, changed } = holders(source);
    await h.start();
    const a = h.decode(raw('n1', 'default/web', '100'));
    const b = h.decode(raw('n2', 'default/api', '200', undefined, 'n3'));
    const c = h.decode(raw('n3', 'default/api', '300'));
    for (const x of [a, b, c]) source.fire('add', x);
    const before = changed.length;
    const web = ['default', 'web'].join('/');
    const api = ['default', 'api'].join('/');
    h.shareKeys((key) => (key === web ? web : key === api ? api : undefined));
    expect(changed.length).toBe(before); // no change to decide again
    expect([a.service, b.service, c.service]).toEqual([web, api, api]);
    expect(new Map(h.of('default/web')?.entries())).toEqual(new Map([['n1', { life: 100, tookOverFrom: undefined }]]));
    expect(new Map(h.of('default/api')?.entries())).toEqual(new Map([['n2', { life: 200, tookOverFrom: 'n3' }], ['n3', { life: 300, tookOverFrom: undefined }]]));
    expect(h.size).toBe(3);
    source.fire('delete', b, b);
    expect(new Map(h.of('default/api')?.entries())).toEqual(new Map([['n3', { life: 300, tookOverFrom: undefined }]]));
  });

  it('indexes holdings per Service and names each Service whose holders change', async () => {
    const source = new HandSource();
    const { h, changed } = holders(source);
    await h.start();
    const a = decodeHolding(raw('n1', 'default/web', '100'));
    const b = decodeHolding(raw('n2', 'default/web', '200', undefined, 'n3'));
    const held = (svc: string): Map<string, Hold> | undefined => {
      const holds = h.of(svc);
      return holds && new Map(holds.entries());
    };
    source.fire('add', a);
    expect(held('default/web')).toEqual(new Map([['n1', { life: 100, tookOverFrom: undefined }]]));
    expect(h.of('default/web')?.get('n1')).toMatchObject({ life: 100, tookOverFrom: undefined });
    source.fire('add', b);
    expect(held('default/web')).toEqual(new Map([['n1', { life: 100, tookOverFrom: undefined }], ['n2', { life: 200, tookOverFrom: 'n3' }]]));
    // A new life written on n1's object.
    const a2 = decodeHolding(raw('n1', 'default/web', '150'));
    source.fire('update', a2, a);
    expect(h.of('default/web')?.get('n1')).toMatchObject({ life: 150, tookOverFrom: undefined });
    // The same again (a resync): no change.
    source.fire('update', a2, a2);
    // The takeover written (or changed) alone is a change too.
    const a3 = decodeHolding(raw('n1', 'default/web', '150', undefined, 'n2'));
    source.fire('update', a3, a2);
    expect(h.of('default/web')?.get('n1')).toMatchObject({ life: 150, tookOverFrom: 'n2' });
    source.fire('delete', b, b);
    expect(held('default/web')).toEqual(new Map([['n1', { life: 150, tookOverFrom: 'n2' }]]));
    expect(h.of('default/web')?.get('n2')).toBeUndefined();
    source.fire('delete', a3, a3);
    expect(h.of('default/web')).toBeUndefined();
    expect(h.size).toBe(0);
    expect(changed).toEqual(Array.from({ length: 6 }, () => 'default/web'));
  });

  it('the kind not served or not readable: the start ends at once, said once, nothing held', async () => {
    for (const status of [404, 403] as const) {
      const source = new HandSource();
      source.startResult = new Promise(() => undefined); // a list that would retry forever
      const { h, unavailable } = holders(source);
      const started = h.start();
      source.error(new KubeApiError(status, 'GET', '/apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses', undefined, 'nope'));
      source.error(new KubeApiError(status, 'GET', '/apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses', undefined, 'nope'));
      await started;
      expect(unavailable).toEqual([status]);
      expect(source.stopped).toBe(true);
      expect(h.of('default/web')).toBeUndefined();
    }
  });

  it('relist(): resolves once the source listed again, or at once when the kind is not served (claims never wait for a view that cannot come)', async () => {
    const source = new HandSource();
    const { h } = holders(source);
    await h.start();
    let done = false;
    const relisted = h.relist().then(() => (done = true));
    await Promise.resolve();
    expect(source.relists).toHaveLength(1);
    expect(done).toBe(false);
    source.relists[0]?.();
    await relisted;
    // Waiting on a list when the kind disappears (CRDs deleted): answered by the 404, not by a list.
    const waiting = h.relist();
    source.error(new KubeApiError(404, 'GET', '/apis/metallb.io/v1beta1/namespaces/ns/servicel2statuses', undefined, 'gone'));
    await waiting;
    await h.relist(); // unavailable from now on: at once
    expect(source.relists).toHaveLength(2);
  });
});
