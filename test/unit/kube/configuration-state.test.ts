// The ConfigurationState writer: creates its object once, writes the status only when the state
// changes (a new process reaching the same state writes nothing), keeps lastTransitionTime while the
// condition's status stays, coalesces states reported during a write, and retries API errors.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../kube/clock.js';
import { ConfigurationStateWriter, type ConfigState } from '../../../kube/configuration-state.js';
import { FakeObjectStore } from './fake-object-store.js';

const COLLECTION = 'ns/configurationstates';
const PATH = '/apis/metallb.io/v1beta1/namespaces/ns/configurationstates';
const valid: ConfigState = { result: 'Valid', reason: 'ConfigLoaded', message: 'config abc in force: 1 address pools, 0 BGP peers', configHash: 'abc' };
const refused: ConfigState = { result: 'Invalid', reason: 'ConfigRefused', message: 'config abc stays in force. it would break ns/web', configHash: 'abc' };

let store: FakeObjectStore;
const writers: ConfigurationStateWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) w.close();
  await store.stop();
});

async function writer(opts: { minIntervalMs?: number; onError?: (e: unknown) => void; onUnavailable?: () => void } = {}): Promise<ConfigurationStateWriter> {
  const kc = await store.start();
  const w = new ConfigurationStateWriter({ kubeConfig: kc, namespace: 'ns', name: 'speaker-n1', component: 'speaker', node: 'n1', clock: systemClock, minIntervalMs: opts.minIntervalMs ?? 0, onError: opts.onError ?? (() => undefined), onUnavailable: opts.onUnavailable });
  writers.push(w);
  return w;
}

type Stored = { metadata: { labels: Record<string, string> }; status: { result: string; lastError: string; configHash: string; conditions: { type: string; status: string; reason: string; message: string; lastTransitionTime: string }[] } };
const stored = (): Stored | undefined => store.objects.get(`${COLLECTION}/speaker-n1`) as Stored | undefined;

describe('ConfigurationStateWriter', () => {
  it('creates the object with MetalLB\'s labels, then writes the status; the same state again writes nothing', async () => {
    store = new FakeObjectStore();
    const w = await writer();
    w.report(valid);
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Valid'));
    expect(store.writes).toEqual([`POST ${PATH}`, `PUT ${PATH}/speaker-n1/status`]);
    expect(stored()?.metadata.labels).toEqual({ 'metallb.io/component-type': 'speaker', 'metallb.io/node-name': 'n1' });
    expect(stored()?.status.lastError).toBeUndefined();
    expect(stored()?.status).toMatchObject({ configHash: 'abc', conditions: [{ type: 'Loaded', status: 'True', reason: 'ConfigLoaded', message: valid.message }] });
    w.report({ ...valid });
    await new Promise((r) => setTimeout(r, 50));
    expect(store.writes).toHaveLength(2);
  });

  it('a new process (restart) with the same state reads and writes nothing; a different one is one status write', async () => {
    store = new FakeObjectStore();
    const first = await writer();
    first.report(refused);
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Invalid'));
    const since = stored()?.status.conditions[0]?.lastTransitionTime;
    first.close();
    await store.stop();
    store.writes.length = 0;
    const second = await writer();
    second.report({ ...refused });
    await new Promise((r) => setTimeout(r, 100));
    expect(store.writes).toEqual([]);
    expect(second.writes).toBe(0);
    second.report({ ...refused, message: 'config abc stays in force. it would break ns/web and ns/api' });
    await vi.waitFor(() => expect(store.writes).toEqual([`PUT ${PATH}/speaker-n1/status`]));
    // Still False: the transition time stays.
    expect(stored()?.status.conditions[0]).toMatchObject({ status: 'False', reason: 'ConfigRefused', lastTransitionTime: since });
    expect(stored()?.status.lastError).toContain('ns/api');
  });

  it('states reported while paced coalesce: only the newest is written', async () => {
    store = new FakeObjectStore();
    const w = await writer({ minIntervalMs: 300 });
    w.report(valid);
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Valid'));
    store.writes.length = 0;
    w.report(refused);
    w.report({ ...refused, message: 'second' });
    w.report({ ...refused, message: 'third' });
    await vi.waitFor(() => expect(stored()?.status?.conditions[0]?.message).toBe('third'), { timeout: 3000 });
    expect(store.writes).toEqual([`PUT ${PATH}/speaker-n1/status`]);
  });

  it('an object changed by someone else (409) is read again and written; API errors are retried, a kind not served is said once', async () => {
    store = new FakeObjectStore();
    const errors: unknown[] = [];
    let unavailable = 0;
    const w = await writer({ onError: (e) => errors.push(e), onUnavailable: () => unavailable++ });
    store.failWith = 500;
    w.report(valid);
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0));
    store.failWith = undefined;
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Valid'), { timeout: 5000 });
    // Someone else bumps the object: the writer's resourceVersion is stale, a 409, then read and write.
    const obj = stored();
    if (obj) store.put(COLLECTION, obj as never);
    w.report(refused);
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Invalid'));

    await store.stop();
    store = new FakeObjectStore();
    const w2 = await writer({ onUnavailable: () => unavailable++ });
    store.failWith = 404;
    w2.report(valid);
    await vi.waitFor(() => expect(unavailable).toBe(1));
  });

  it('a throttled request (429) is not repeated before the server\'s Retry-After, though the backoff would be sooner', async () => {
    store = new FakeObjectStore();
    store.failWith = 429;
    store.retryAfterS = 2;
    const w = await writer();
    w.report(valid);
    await vi.waitFor(() => expect(store.failedAt.length).toBe(2), { timeout: 6000 });
    store.failWith = undefined;
    // The backoff's first step is at most 1 s; the Retry-After (2 s) floors it.
    expect(store.failedAt[1] - store.failedAt[0]).toBeGreaterThanOrEqual(1_900);
    await vi.waitFor(() => expect(stored()?.status?.result).toBe('Valid'), { timeout: 8000 });
  }, 15_000);
});
