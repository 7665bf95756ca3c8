import { describe, expect, it } from 'vitest';
import { Fencing, FencingError, type FencingState } from '../../../speaker/fencing.js';
import { ManualClock } from '../../../protocols/clock.js';

function setup(leaseDurationMs = 3000) {
  const clock = new ManualClock();
  const f = new Fencing({ clock, leaseDurationMs });
  const states: FencingState[] = [];
  f.onChange((s) => states.push(s));
  return { clock, f, states };
}

describe('Fencing', () => {
  it('starts fenced until the first successful renewal', () => {
    const { f, states } = setup();
    expect(f.state()).toMatchObject({ kind: 'fenced', reason: 'notYetRenewed' });
    f.renewSucceeded();
    expect(f.isFenced()).toBe(false);
    expect(states.map((s) => s.kind)).toEqual(['active']);
  });

  it('fences leaseDuration after the last successful renewal was sent, despite failures in between', () => {
    const { clock, f, states } = setup();
    f.renewSucceeded();
    clock.advance(1000);
    f.renewFailed(new Error('connection refused'));
    clock.advance(1000);
    f.renewFailed(new Error('connection refused'));
    expect(f.isFenced()).toBe(false);
    expect(f.failuresSinceSuccess().count).toBe(2);
    clock.advance(999);
    expect(f.isFenced()).toBe(false);
    clock.advance(1);
    expect(f.state()).toEqual({ kind: 'fenced', reason: 'renewOverdue', since: clock.now() });
    expect(states.map((s) => s.kind)).toEqual(['active', 'fenced']);
  });

  it('counts as fenced from the deadline on, even before its timer fired (a timer late on a loaded machine must not let an answer through)', () => {
    const clock = { now: () => t, setTimeout: () => ({}), clearTimeout: () => undefined };
    let t = 0;
    const f = new Fencing({ clock, leaseDurationMs: 3000 });
    f.renewSucceeded(0);
    t = 2999;
    expect(f.isFenced()).toBe(false);
    t = 3000; // the timer never fires with this clock: the deadline alone decides
    expect(f.isFenced()).toBe(true);
    expect(f.state().kind).toBe('active');
  });

  it('stays active while renewals keep succeeding, with one timer at a time', () => {
    const { clock, f, states } = setup();
    for (let i = 0; i < 20; i++) {
      f.renewSucceeded();
      clock.advance(1000);
    }
    expect(f.isFenced()).toBe(false);
    expect(clock.pending()).toBe(1);
    expect(states).toHaveLength(1);
  });

  it('unfences on the next successful renewal and resets the failure count', () => {
    const { clock, f, states } = setup();
    f.renewSucceeded();
    f.renewFailed('timeout');
    clock.advance(5000);
    expect(f.isFenced()).toBe(true);
    f.renewSucceeded();
    expect(f.isFenced()).toBe(false);
    expect(f.failuresSinceSuccess().count).toBe(0);
    expect(states.map((s) => s.kind)).toEqual(['active', 'fenced', 'active']);
  });

  it('times the deadline from the send time of the request, not the response', () => {
    const { clock, f } = setup();
    const sentAt = clock.now();
    clock.advance(2500); // a slow API server answers late
    f.renewSucceeded(sentAt);
    clock.advance(499);
    expect(f.isFenced()).toBe(false);
    clock.advance(1);
    expect(f.isFenced()).toBe(true);
  });

  it('ignores a success whose request is already older than the lease duration', () => {
    const { clock, f, states } = setup();
    const sentAt = clock.now();
    clock.advance(3000);
    f.renewSucceeded(sentAt);
    expect(f.isFenced()).toBe(true);
    expect(states).toHaveLength(0);
  });

  it('ignores a late success of an older request', () => {
    const { clock, f } = setup();
    const first = clock.now();
    clock.advance(1000);
    f.renewSucceeded(); // sent at 1000 later
    f.renewSucceeded(first); // the older request's answer arrives after
    clock.advance(2999);
    expect(f.isFenced()).toBe(false);
    clock.advance(1);
    expect(f.isFenced()).toBe(true);
  });

  it('close cancels the timer; invalid durations are typed errors', () => {
    const { clock, f } = setup();
    f.renewSucceeded();
    f.close();
    expect(clock.pending()).toBe(0);
    expect(() => new Fencing({ clock, leaseDurationMs: -1 })).toThrow(FencingError);
  });
});
