import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Backoff, atLeastRetryAfter, backoffDelay } from '../../../kube/backoff.js';
import { KubeApiError } from '../../../kube/request.js';

describe('backoff', () => {
  it('doubles up to the ceiling without jitter', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('nextAfter: a 429 floors the step at its Retry-After (1 s if the server sent none); other errors do not', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    const throttled = new KubeApiError(429, 'PATCH', '/x', 'TooManyRequests', 'slow down', undefined, 3_000);
    expect(b.nextAfter(throttled)).toBe(3_000);
    expect(b.nextAfter(new KubeApiError(429, 'PATCH', '/x', 'TooManyRequests', 'slow down'))).toBe(1_000);
    expect(b.nextAfter(new KubeApiError(500, 'PATCH', '/x', 'InternalError', 'boom'))).toBe(400);
    expect(b.attempts).toBe(3);
    expect(atLeastRetryAfter(5_000, throttled)).toBe(5_000);
    expect(atLeastRetryAfter(10, new Error('x'))).toBe(10);
  });

  it('stays within [base*(1-jitter), ceiling] for any attempt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, { initialMs: 200, maxMs: 30_000, jitter: 0.2, random: () => r });
        return d >= 0 && d <= 30_000 && d >= Math.floor(Math.min(30_000, 200 * 2 ** Math.min(attempt, 64)) * 0.8) - 1;
      }),
    );
  });
});
