// Leader election state machine on a fake clock and a scripted Lease: start, renew, step down at
// the renew deadline (also while a renewal hangs), lose to another holder, release on stop; a
// standby driven by the watch: no polling, an attempt right when the last observed version expires.
import { describe, expect, it } from 'vitest';
import type { V1Lease } from '@kubernetes/client-node';
import type { LeaseOutcome } from '../../../kube/lease.js';
import { LeaderElector, type Lock } from '../../../controller/leader.js';
import { FakeClock } from '../kube/fake-clock.js';

/** A Lease version `rv` held by `holder` ('' = free) for `seconds`. */
const lease = (rv: string, holder = 'me', seconds = 3): V1Lease => ({ metadata: { name: 'l', resourceVersion: rv }, spec: { holderIdentity: holder || undefined, leaseDurationSeconds: seconds } });
const held = (rv = '1'): LeaseOutcome => ({ kind: 'held', lease: lease(rv) });
const taken = (rv: string, holder = 'other'): LeaseOutcome => ({ kind: 'taken', holder, lease: lease(rv, holder) });

class ScriptedLock implements Lock {
  next: () => Promise<LeaseOutcome> = () => Promise.resolve(held());
  /** Clock time of every acquireOrRenew call. */
  calls: number[] = [];
  released = 0;
  observed: string[] = [];
  constructor(private readonly clock: FakeClock) {}
  acquireOrRenew(): Promise<LeaseOutcome> {
    this.calls.push(this.clock.now());
    return this.next();
  }
  release(): Promise<boolean> {
    this.released++;
    return Promise.resolve(true);
  }
  observe(l: V1Lease): void {
    this.observed.push(l.metadata?.resourceVersion ?? '');
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** Advances in 10 ms steps, letting attempts settle in between. */
async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(Math.min(10, ms - t));
    await flush();
  }
}

function setup(): { clock: FakeClock; lock: ScriptedLock; events: string[]; el: LeaderElector } {
  const clock = new FakeClock();
  const lock = new ScriptedLock(clock);
  const events: string[] = [];
  const el = new LeaderElector({
    lock,
    identity: 'me',
    durationMs: 3000,
    clock,
    onStartedLeading: (took) => events.push(took ? `start after ${took.holder} +${took.sinceSeenMs}` : 'start'),
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
    expect(el.expiryMarginMs).toBe(25);
    expect(() => new LeaderElector({ lock: new ScriptedLock(new FakeClock()), identity: 'x', durationMs: 1000, renewDeadlineMs: 1000, onStartedLeading: () => {}, onStoppedLeading: () => {} })).toThrow(RangeError);
  });

  it('leads once held and renews every retry period', async () => {
    const { clock, lock, events, el } = setup();
    el.start();
    await flush();
    expect(events).toEqual(['start']);
    expect(el.leading).toBe(true);
    let rv = 1;
    lock.next = () => Promise.resolve(held(String(++rv)));
    await run(clock, 2000);
    expect(lock.calls).toEqual([0, 400, 800, 1200, 1600, 2000]);
    expect(el.leading).toBe(true);
  });

  it('a standby does not poll: it tries once, then right when the observed version expires', async () => {
    const { clock, lock, events, el } = setup();
    lock.next = () => Promise.resolve(taken('5'));
    el.start();
    await flush();
    expect(events).toEqual(['observed other']);
    expect(el.sighting).toEqual({ version: '5', holder: 'other', durationMs: 3000, at: 0 });
    await run(clock, 3000);
    expect(lock.calls).toEqual([0]);
    // The leader died: version 5 is never renewed. Expiry 3000 + margin 25.
    lock.next = () => Promise.resolve(held('6'));
    await run(clock, 100);
    expect(lock.calls).toEqual([0, 3025]);
    expect(el.leading).toBe(true);
    expect(events).toEqual(['observed other', 'start after other +3030']); // settled at the end of the 10 ms step
  });

  it('each renewal seen by the watch moves the expiry; the attempt follows the last one seen', async () => {
    const { clock, lock, el } = setup();
    lock.next = () => Promise.resolve(taken('1'));
    el.start();
    await flush();
    // Renewals every 400 ms, seen at once, until 1,930 ms: the leader is then killed.
    for (let rv = 2; rv <= 5; rv++) {
      await run(clock, 400);
      el.observe(lease(String(rv), 'other'));
    }
    await run(clock, 330);
    el.observe(lease('6', 'other'));
    expect(el.sighting?.at).toBe(1930);
    expect(lock.observed).toEqual(['2', '3', '4', '5', '6']);
    // A re-delivery of the same version (re-list) does not restart the timer.
    await run(clock, 1000);
    el.observe(lease('6', 'other'));
    lock.next = () => Promise.resolve(held('7'));
    await run(clock, 2100);
    expect(lock.calls).toEqual([0, 1930 + 3000 + 25]);
    expect(el.leading).toBe(true);
  });

  it('reports the takeover against the sighting it acted on, also when the watch shows its own write first', async () => {
    const { clock, lock, events, el } = setup();
    lock.next = () => Promise.resolve(taken('1'));
    el.start();
    await flush();
    let resolve: (o: LeaseOutcome) => void = () => undefined;
    lock.next = () => new Promise((r) => (resolve = r));
    clock.advance(3025);
    await flush();
    el.observe(lease('2', 'me')); // our PUT, delivered by the watch before its response
    resolve(held('2'));
    await flush();
    expect(events).toEqual(['observed other', 'start after other +3025']);
  });

  it('honours the holder\'s leaseDurationSeconds, not its own', async () => {
    const { clock, lock, el } = setup();
    lock.next = () => Promise.resolve({ kind: 'taken', holder: 'other', lease: lease('1', 'other', 10) });
    el.start();
    await flush();
    await run(clock, 9990);
    expect(lock.calls).toEqual([0]);
    await run(clock, 100);
    expect(lock.calls).toEqual([0, 10_025]);
  });

  it('a released (no holder) or deleted Lease is tried at once', async () => {
    const { clock, lock, el } = setup();
    lock.next = () => Promise.resolve(taken('1'));
    el.start();
    await flush();
    await run(clock, 500);
    el.observe(lease('2', ''));
    await flush();
    clock.advance(0);
    await flush();
    expect(lock.calls).toEqual([0, 500]);
    expect(el.leading).toBe(false); // the script says someone else won the race
    await run(clock, 200);
    el.observe(undefined);
    clock.advance(0);
    await flush();
    expect(lock.calls).toEqual([0, 500, 700]);
  });

  it('when the lock still judges the Lease live at the expiry, it retries each retry period (no hot loop)', async () => {
    const { clock, lock, el } = setup();
    lock.next = () => Promise.resolve(taken('1'));
    el.start();
    await flush();
    await run(clock, 4000);
    // Retries one period after each attempt settles (at the end of the 10 ms step it fired in).
    expect(lock.calls).toEqual([0, 3025, 3430, 3830]);
    expect(el.leading).toBe(false);
  });

  it('failed attempts (API errors, conflicts) are retried each retry period', async () => {
    const { clock, lock, events, el } = setup();
    lock.next = () => Promise.reject(new Error('apiserver down'));
    el.start();
    await flush();
    lock.next = () => Promise.resolve({ kind: 'conflict' });
    await run(clock, 800);
    expect(lock.calls).toEqual([0, 400, 800]);
    expect(events).toEqual(['error']);
  });

  it('steps down at the renew deadline when renewals fail, and when another holder shows up', async () => {
    const { clock, lock, events, el } = setup();
    el.start();
    await flush();
    lock.next = () => Promise.reject(new Error('apiserver down'));
    await run(clock, 1990);
    expect(el.leading).toBe(true);
    await run(clock, 20);
    expect(el.leading).toBe(false);
    expect(events.filter((e) => e.startsWith('stop'))[0]).toMatch(/renew deadline 2000 ms/);
    // Its own Lease from the last term: renewed (not waited out) on the next retry.
    lock.next = () => Promise.resolve(held('2'));
    await run(clock, 400);
    expect(el.leading).toBe(true);
    lock.next = () => Promise.resolve(taken('3', 'thief'));
    await run(clock, 400);
    expect(el.leading).toBe(false);
    expect(events.at(-1)).toBe('stop: the Lease is held by thief');
  });

  it('a leader steps down at once when the watch shows another holder', async () => {
    const { clock, lock, events, el } = setup();
    el.start();
    await flush();
    await run(clock, 100);
    el.observe(lease('9', 'thief'));
    expect(el.leading).toBe(false);
    expect(events).toEqual(['start', 'observed thief', 'stop: the Lease is held by thief']);
    // Now a standby of version 9: next attempt at its expiry, not at the renew period.
    lock.next = () => Promise.resolve(taken('9', 'thief'));
    await run(clock, 3100);
    expect(lock.calls).toEqual([0, 100 + 3025]);
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

  it('stop releases the Lease when leading; observations after stop do nothing', async () => {
    const { clock, lock, events, el } = setup();
    el.start();
    await flush();
    await el.stop();
    expect(lock.released).toBe(1);
    expect(events.at(-1)).toBe('stop: shutting down');
    expect(el.current).toEqual({ kind: 'stopped' });
    el.observe(lease('5', ''));
    await run(clock, 1000);
    expect(lock.calls).toEqual([0]);
    expect(clock.pending).toBe(0);
  });

  it('observations before start schedule nothing', async () => {
    const { clock, lock, el } = setup();
    el.observe(lease('1', ''));
    await run(clock, 1000);
    expect(lock.calls).toEqual([]);
  });
});
