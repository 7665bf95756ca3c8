// Leader election state machine on a fake clock and a scripted Lease: start, renew, step down at
// the renew deadline (also while a renewal hangs), lose to another holder, release on stop.
import { describe, expect, it } from 'vitest';
import type { V1Lease } from '@kubernetes/client-node';
import type { LeaseOutcome } from '../../../kube/lease.js';
import { LeaderElector, type Lock } from '../../../controller/leader.js';
import { FakeClock } from '../kube/fake-clock.js';

const lease: V1Lease = { metadata: { name: 'l' } };

class ScriptedLock implements Lock {
  next: () => Promise<LeaseOutcome> = () => Promise.resolve({ kind: 'held', lease });
  calls = 0;
  released = 0;
  acquireOrRenew(): Promise<LeaseOutcome> {
    this.calls++;
    return this.next();
  }
  release(): Promise<boolean> {
    this.released++;
    return Promise.resolve(true);
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(): { clock: FakeClock; lock: ScriptedLock; events: string[]; el: LeaderElector } {
  const clock = new FakeClock();
  const lock = new ScriptedLock();
  const events: string[] = [];
  const el = new LeaderElector({
    lock,
    durationMs: 3000,
    clock,
    onStartedLeading: () => events.push('start'),
    onStoppedLeading: (why) => events.push(`stop: ${why}`),
    onError: () => events.push('error'),
    onLeaderObserved: (h) => events.push(`observed ${h}`),
  });
  return { clock, lock, events, el };
}

describe('LeaderElector', () => {
  it('derives renew deadline and retry from the duration; rejects a deadline >= duration', () => {
    const { el } = setup();
    expect(el.renewDeadlineMs).toBe(2000);
    expect(el.retryMs).toBe(400);
    expect(() => new LeaderElector({ lock: new ScriptedLock(), durationMs: 1000, renewDeadlineMs: 1000, onStartedLeading: () => {}, onStoppedLeading: () => {} })).toThrow(RangeError);
  });

  it('leads once held, renews every retry period, observes another holder without leading', async () => {
    const { clock, lock, events, el } = setup();
    lock.next = () => Promise.resolve({ kind: 'taken', holder: 'other', lease });
    el.start();
    await flush();
    expect(events).toEqual(['observed other']);
    clock.advance(400);
    await flush();
    expect(events).toEqual(['observed other']); // reported on change only
    lock.next = () => Promise.resolve({ kind: 'held', lease });
    clock.advance(400);
    await flush();
    expect(events).toEqual(['observed other', 'start']);
    expect(el.leading).toBe(true);
    const before = lock.calls;
    for (let t = 0; t < 2000; t += 100) {
      clock.advance(100);
      await flush();
    }
    expect(lock.calls - before).toBeGreaterThanOrEqual(4);
    expect(el.leading).toBe(true);
  });

  it('steps down at the renew deadline when renewals fail, and when another holder shows up', async () => {
    const { clock, lock, events, el } = setup();
    el.start();
    await flush();
    lock.next = () => Promise.reject(new Error('apiserver down'));
    for (let t = 0; t < 1900; t += 100) {
      clock.advance(100);
      await flush();
    }
    expect(el.leading).toBe(true);
    clock.advance(200);
    await flush();
    expect(el.leading).toBe(false);
    expect(events.filter((e) => e.startsWith('stop'))[0]).toMatch(/renew deadline 2000 ms/);
    lock.next = () => Promise.resolve({ kind: 'held', lease });
    clock.advance(400);
    await flush();
    expect(el.leading).toBe(true);
    lock.next = () => Promise.resolve({ kind: 'taken', holder: 'thief', lease });
    clock.advance(400);
    await flush();
    expect(el.leading).toBe(false);
    expect(events.at(-1)).toBe('stop: the Lease is held by thief');
  });

  it('a renewal that hangs does not keep a leader leading past the deadline', async () => {
    const { clock, lock, el } = setup();
    el.start();
    await flush();
    lock.next = () => new Promise(() => undefined);
    clock.advance(2000);
    await flush();
    expect(el.leading).toBe(false);
  });

  it('stop releases the Lease when leading', async () => {
    const { lock, events, el } = setup();
    el.start();
    await flush();
    await el.stop();
    expect(lock.released).toBe(1);
    expect(events.at(-1)).toBe('stop: shutting down');
    expect(el.current).toEqual({ kind: 'stopped' });
  });
});
