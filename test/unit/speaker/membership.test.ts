import { describe, expect, it } from 'vitest';
import { Membership, MembershipError, type MembershipChange } from '../../../speaker/membership.js';
import { ManualClock } from '../../../protocols/clock.js';

function setup(leaseDurationMs = 3000) {
  const clock = new ManualClock();
  const m = new Membership({ clock, leaseDurationMs });
  const changes: MembershipChange[] = [];
  m.onChange((c) => changes.push(c));
  return { clock, m, changes };
}

describe('Membership', () => {
  it('counts a newly seen Lease as live for the lease duration, then expires it by timer', () => {
    const { clock, m, changes } = setup();
    m.observe('a', 'r1');
    expect(m.live()).toEqual(['a']);
    clock.advance(2999);
    expect(m.isLive('a')).toBe(true);
    clock.advance(1);
    expect(m.isLive('a')).toBe(false);
    expect(changes).toEqual([
      { node: 'a', live: true, cause: 'renewed' },
      { node: 'a', live: false, cause: 'expired' },
    ]);
    expect(clock.pending()).toBe(0);
  });

  it('extends liveness on each changed version, timed at local observation', () => {
    const { clock, m, changes } = setup();
    m.observe('a', 'r1');
    for (let i = 2; i <= 10; i++) {
      clock.advance(1000);
      m.observe('a', `r${i}`);
    }
    clock.advance(2999);
    expect(m.isLive('a')).toBe(true);
    expect(changes).toHaveLength(1);
    expect(clock.pending()).toBe(1);
    clock.advance(1);
    expect(m.isLive('a')).toBe(false);
  });

  it('does not refresh on the same version (resyncs), nor revive an expired Lease with it', () => {
    const { clock, m, changes } = setup();
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    clock.advance(2000);
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    clock.advance(1000);
    expect(m.isLive('a')).toBe(false);
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    expect(m.isLive('a')).toBe(false);
    m.observe('a', '2026-11-22T09:00:04.000000Z');
    expect(m.isLive('a')).toBe(true);
    expect(changes.map((c) => `${c.live}:${c.cause}`)).toEqual(['true:renewed', 'false:expired', 'true:renewed']);
  });

  it('never compares renew times: a renewTime far in the past or future is just a change', () => {
    const { clock, m } = setup();
    m.observe('skewed', '1999-01-01T00:00:00Z');
    clock.advance(2500);
    m.observe('skewed', '2099-01-01T00:00:00Z');
    clock.advance(2500);
    expect(m.isLive('skewed')).toBe(true);
    expect(m.sinceLastChange('skewed')).toBe(2500);
  });

  it('removes a deleted Lease at once and cancels its timer', () => {
    const { clock, m, changes } = setup();
    m.observe('a', '1');
    m.observe('b', '1');
    m.remove('a');
    expect(m.live()).toEqual(['b']);
    expect(changes.at(-1)).toEqual({ node: 'a', live: false, cause: 'deleted' });
    expect(clock.pending()).toBe(1);
    m.remove('a'); // idempotent
    clock.advance(3000);
    expect(m.live()).toEqual([]);
    expect(changes.filter((c) => c.node === 'a')).toHaveLength(2);
  });

  it('reports no change when deleting an already expired Lease', () => {
    const { clock, m, changes } = setup();
    m.observe('a', '1');
    clock.advance(3000);
    m.remove('a');
    expect(changes.map((c) => c.cause)).toEqual(['renewed', 'expired']);
  });

  it('tracks nodes independently and lists them sorted', () => {
    const { clock, m } = setup(1000);
    m.observe('c', '1');
    clock.advance(500);
    m.observe('a', '1');
    m.observe('b', '1');
    expect(m.live()).toEqual(['a', 'b', 'c']);
    clock.advance(500);
    expect(m.live()).toEqual(['a', 'b']);
  });

  it('liveSet follows the live list and is reused until the live set changes', () => {
    const { clock, m } = setup(1000);
    m.observe('a', '1');
    const first = m.liveSet();
    expect([...first]).toEqual(['a']);
    m.observe('a', '2');
    expect(m.liveSet()).toBe(first);
    m.observe('b', '1');
    expect([...m.liveSet()].sort()).toEqual(['a', 'b']);
    expect([...first]).toEqual(['a']);
    clock.advance(1000);
    expect([...m.liveSet()]).toEqual([]);
  });

  it('unsubscribes listeners and clears everything on close', () => {
    const { clock, m, changes } = setup();
    const seen: MembershipChange[] = [];
    const off = m.onChange((c) => seen.push(c));
    m.observe('a', '1');
    off();
    m.observe('b', '1');
    expect(seen).toHaveLength(1);
    expect(changes).toHaveLength(2);
    m.close();
    expect(clock.pending()).toBe(0);
    expect(m.live()).toEqual([]);
  });

  it('rejects a non-positive lease duration with a typed error', () => {
    expect(() => new Membership({ clock: new ManualClock(), leaseDurationMs: 0 })).toThrow(MembershipError);
    expect(() => new Membership({ clock: new ManualClock(), leaseDurationMs: Number.NaN })).toThrow(/leaseDurationMs/);
  });
});
