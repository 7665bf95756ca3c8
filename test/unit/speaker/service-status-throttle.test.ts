// ServiceL2Status / ServiceBGPStatus writes against a throttled API server: a 429's Retry-After is a
// floor under the retry backoff, for the list at start and for each object's write (as the Event
// recorder: test/unit/kube/events-throttle.test.ts). Manual clock; every request a promise the test settles.
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';

const calls: Array<{ method: string; path: string; at: number; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
const clock = new ManualClock();
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string, path: string) => new Promise((resolve, reject) => calls.push({ method, path, at: clock.now(), resolve, reject })),
}));
const { ServiceStatusObjects } = await import('../../../speaker/service-status-objects.js');
const { KubeApiError } = await import('../../../kube/request.js');

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const throttled = (method: string, retryAfterMs: number): Error => new KubeApiError(429, method, '/apis/metallb.io', 'TooManyRequests', 'too many requests', undefined, retryAfterMs);
const sent = (): Array<[string, number]> => calls.map((c) => [c.method, c.at]);

/** Advances to `t` in 1 ms steps, settling the promises after each. */
async function advanceTo(t: number): Promise<void> {
  while (clock.now() < t) {
    clock.advance(1);
    await settle();
  }
}

describe('ServiceStatusObjects and 429', () => {
  it('retries a throttled list and a throttled write no sooner than Retry-After, then after its own backoff again', async () => {
    const errors: unknown[] = [];
    // random 0.99: the backoff's jitter takes ~20 % off (1 s -> 802 ms), so only the floor can hold it to Retry-After.
    const o = new ServiceStatusObjects({ kubeConfig: {} as never, namespace: 'ns', node: 'n1', clock, ratePerSecond: 1000, burst: 1000, onError: (e) => errors.push(e), random: () => 0.99 });
    const started = o.start();
    await settle();
    expect(sent()).toEqual([['GET', 0]]);
    calls.shift()?.reject(throttled('GET', 3_000));
    await settle();
    await advanceTo(2_999);
    expect(calls).toEqual([]);
    await advanceTo(3_000);
    expect(sent()).toEqual([['GET', 3_000]]);
    calls.shift()?.resolve({ items: [] }); // layer2 listed
    await settle();
    calls.shift()?.resolve({ items: [] }); // bgp listed
    await started;

    o.set('layer2', 'default/web', ['eth0']);
    await settle();
    await advanceTo(clock.now() + 10); // the pacer
    expect(calls.map((c) => c.method)).toEqual(['POST']);
    const posted = calls[0]?.at ?? 0;
    calls.shift()?.reject(throttled('POST', 5_000));
    await settle();
    await advanceTo(posted + 4_999 + 10);
    expect(calls).toEqual([]);
    await advanceTo(posted + 5_000 + 20);
    expect(calls.map((c) => c.method)).toEqual(['POST']);
    // A 500 next: the backoff only (the second attempt since the success: 2 s less ~20 %).
    const again = calls[0]?.at ?? 0;
    expect(again - posted).toBeGreaterThanOrEqual(5_000);
    calls.shift()?.reject(Object.assign(new Error('boom'), { status: 500 }));
    await settle();
    await advanceTo(again + 1_500);
    expect(calls).toEqual([]);
    await advanceTo(again + 1_700);
    expect(calls.map((c) => c.method)).toEqual(['POST']);
    expect(errors.length).toBe(3);
    o.close();
  });
});
