// updateServiceStatus with annotations: they ride in the status write (one request); a server that
// drops metadata changes on services/status gets the missing ones in a merge patch after it; a 409
// re-reads and recomputes. Every request is a promise the test answers (kubeRequest mocked).
import { describe, expect, it, vi } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';

interface Call {
  method: string;
  path: string;
  body: unknown;
  contentType: string | undefined;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}
const calls: Call[] = [];
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string, path: string, opts: { body?: unknown; contentType?: string } = {}) =>
    new Promise((resolve, reject) => calls.push({ method, path, body: opts.body, contentType: opts.contentType, resolve, reject })),
}));
const { updateServiceStatus, withWrite, annotationsMissing } = await import('../../../kube/status.js');
const { KubeApiError } = await import('../../../kube/request.js');

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const POOL = 'metallb.io/ip-allocated-from-pool';
const svc = (rv: string, annotations?: Record<string, string>, ip?: string): V1Service => ({
  metadata: { name: 'web', namespace: 'ns', resourceVersion: rv, ...(annotations ? { annotations } : {}) },
  spec: { type: 'LoadBalancer' },
  status: { loadBalancer: ip ? { ingress: [{ ip }] } : {} },
});
const assign = (s: V1Service) => (s.status?.loadBalancer?.ingress?.length ? undefined : { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } }, annotations: { [POOL]: 'main' } });

describe('updateServiceStatus with annotations', () => {
  it('sends the annotations in the status write: one request when the server stores them', async () => {
    const patched: number[] = [];
    const done = updateServiceStatus({} as never, 'ns', 'web', assign, { current: svc('5', { keep: 'me' }), onAnnotationsPatched: () => patched.push(1) });
    await settle();
    expect(calls.map((c) => [c.method, c.path])).toEqual([['PUT', '/api/v1/namespaces/ns/services/web/status']]);
    const sent = calls[0]?.body as V1Service;
    expect(sent.metadata?.resourceVersion).toBe('5');
    expect(sent.metadata?.annotations).toEqual({ keep: 'me', [POOL]: 'main' });
    expect(sent.status?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.1' }]);
    calls.shift()?.resolve({ ...sent, metadata: { ...sent.metadata, resourceVersion: '6' } });
    const stored = await done;
    expect(stored?.metadata?.annotations?.[POOL]).toBe('main');
    expect(calls).toEqual([]);
    expect(patched).toEqual([]);
  });

  it('a server that drops metadata changes on the status subresource: the missing annotations follow in a merge patch', async () => {
    const patched: number[] = [];
    const done = updateServiceStatus({} as never, 'ns', 'web', assign, { current: svc('5'), onAnnotationsPatched: () => patched.push(1) });
    await settle();
    // The answer: the status stored, the annotation not.
    calls.shift()?.resolve(svc('6', undefined, '192.0.2.1'));
    await settle();
    expect(calls.map((c) => [c.method, c.path, c.contentType, c.body])).toEqual([['PATCH', '/api/v1/namespaces/ns/services/web', 'application/merge-patch+json', { metadata: { annotations: { [POOL]: 'main' } } }]]);
    calls.shift()?.resolve({});
    const stored = await done;
    expect(stored?.metadata?.annotations?.[POOL]).toBe('main');
    expect(patched).toEqual([1]);
  });

  it('a conflict re-reads and recomputes the write from the latest object', async () => {
    const done = updateServiceStatus({} as never, 'ns', 'web', assign, { current: svc('5') });
    await settle();
    calls.shift()?.reject(new KubeApiError(409, 'PUT', '/api/v1/namespaces/ns/services/web/status', 'Conflict', 'the object has been modified'));
    await settle();
    expect(calls.map((c) => c.method)).toEqual(['GET']);
    // Someone else assigned meanwhile: nothing left to write.
    calls.shift()?.resolve(svc('7', { [POOL]: 'main' }, '192.0.2.1'));
    expect((await done)?.metadata?.resourceVersion).toBe('7');
    expect(calls).toEqual([]);
  });
});

describe('withWrite and annotationsMissing', () => {
  it('sets and removes annotations, keeps the others, replaces the status', () => {
    const s = svc('1', { a: '1', [POOL]: 'old' }, '192.0.2.9');
    const w = withWrite(s, { status: { loadBalancer: {} }, annotations: { [POOL]: null, b: '2' } });
    expect(w.metadata?.annotations).toEqual({ a: '1', b: '2' });
    expect(w.status).toEqual({ loadBalancer: {} });
    expect(s.metadata?.annotations).toEqual({ a: '1', [POOL]: 'old' }); // not mutated
    expect(annotationsMissing(w, { status: {}, annotations: { [POOL]: null, b: '2' } })).toBeUndefined();
    expect(annotationsMissing(s, { status: {}, annotations: { [POOL]: null, b: '2' } })).toEqual({ [POOL]: null, b: '2' });
    expect(annotationsMissing(s, { status: {} })).toBeUndefined();
  });
});
