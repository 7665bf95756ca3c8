// Lease helpers: two contenders, one holder; expiry by observed time; release frees it at once.
import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeaseLock } from '../../kube/lease.js';
import type { Clock } from '../../kube/clock.js';
import { freshNamespace, kubeConfig } from './harness.js';

/** Real timers, adjustable "now" (lease expiry is judged on this clock). */
function offsetClock(): Clock & { skip(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    skip: (ms) => (offset += ms),
  };
}

describe('LeaseLock', () => {
  let kc: KubeConfig;
  let ns: string;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('lease');
  });

  it('one of two concurrent contenders wins; renew keeps it; expiry and release hand it over', async () => {
    const clockA = offsetClock();
    const clockB = offsetClock();
    const a = new LeaseLock(kc, { namespace: ns, name: 'leader', identity: 'a', durationSeconds: 15, clock: clockA });
    const b = new LeaseLock(kc, { namespace: ns, name: 'leader', identity: 'b', durationSeconds: 15, clock: clockB });
    const [ra, rb] = await Promise.all([a.acquireOrRenew(), b.acquireOrRenew()]);
    expect([ra, rb].filter((r) => r.kind === 'held')).toHaveLength(1);
    const [winner, loser, loserClock, winnerId] = ra.kind === 'held' ? [a, b, clockB, 'a'] : [b, a, clockA, 'b'];

    expect((await winner.acquireOrRenew()).kind).toBe('held');
    expect(await loser.acquireOrRenew()).toMatchObject({ kind: 'taken', holder: winnerId });

    // Not renewed for a full duration (as seen by the loser's clock): the loser takes over.
    loserClock.skip(16_000);
    const takeover = await loser.acquireOrRenew();
    expect(takeover.kind).toBe('held');
    if (takeover.kind === 'held') expect(takeover.lease.spec?.leaseTransitions).toBe(1);
    expect((await winner.acquireOrRenew()).kind).toBe('taken');

    // Release hands it back at once, without waiting for expiry.
    expect(await winner.release()).toBe(false); // not the holder
    expect(await loser.release()).toBe(true);
    const back = await winner.acquireOrRenew();
    expect(back.kind).toBe('held');
    if (back.kind === 'held') expect(back.lease.spec?.leaseTransitions).toBe(2);
    expect((await a.get())?.spec?.holderIdentity).toBe(winnerId);
  });

  it('stale write loses with a conflict, not an overwrite', async () => {
    const a = new LeaseLock(kc, { namespace: ns, name: 'race', identity: 'a', durationSeconds: 15 });
    expect((await a.acquireOrRenew()).kind).toBe('held');
    // Ten concurrent renewals of the same holder: all read the same version, exactly one write lands per version.
    const results = await Promise.all(Array.from({ length: 10 }, () => a.acquireOrRenew()));
    expect(results.some((r) => r.kind === 'held')).toBe(true);
    expect(results.every((r) => r.kind === 'held' || r.kind === 'conflict')).toBe(true);
  });
});
