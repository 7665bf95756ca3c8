// EventRecorder against a throttled API server: a 429's Retry-After is a floor under the retry
// backoff (the backoff's jitter only lowers the delay, so without the floor a retry came back
// before the server asked). Manual clock; every request a promise the test settles.
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';

const calls: Array<{ method: string; at: number; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
const clock = new ManualClock();
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string) => new Promise((resolve, reject) => calls.push({ method, at: clock.now(), resolve, reject })),
}));
const { EventRecorder } = await import('../../../kube/events.js');
const { KubeApiError } = await import('../../../kube/request.js');

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('EventRecorder and 429', () => {
  it('retries a throttled create no sooner than Retry-After, then after its own backoff again', async () => {
    const errors: unknown[] = [];
    const rec = await EventRecorder.create({} as never, { reportingController: 'herald.io/test', reportingInstance: 'n1', api: 'v1', clock, onError: (e) => errors.push(e), retryBackoff: { random: () => 0.99 } });
    rec.record({ kind: 'Service', namespace: 'ns', name: 'web' }, 'Normal', 'IPAllocated', 'Allocate', 'assigned 192.0.2.10');
    await settle();
    expect(calls.map((c) => [c.method, c.at])).toEqual([['POST', 0]]);
    calls.shift()?.reject(new KubeApiError(429, 'POST', '/api/v1/namespaces/ns/events', 'TooManyRequests', 'too many requests', undefined, 5_000));
    await settle();
    // The backoff alone would retry at ~0.8 s (1 s with 20 % jitter off): Retry-After says 5 s.
    clock.advance(4_999);
    await settle();
    expect(calls).toEqual([]);
    clock.advance(1);
    await settle();
    expect(calls.map((c) => [c.method, c.at])).toEqual([['POST', 5_000]]);
    // A 500 next: the backoff only (2 s less up to 20 % jitter: 1,604 ms with random 0.99).
    calls.shift()?.reject(Object.assign(new Error('boom'), { code: 500 }));
    await settle();
    clock.advance(1_603);
    await settle();
    expect(calls).toEqual([]);
    clock.advance(1);
    await settle();
    expect(calls.map((c) => [c.method, c.at])).toEqual([['POST', 6_604]]);
    calls.shift()?.resolve({});
    await settle();
    expect(errors.length).toBe(2);
  });
});
