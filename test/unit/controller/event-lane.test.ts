// The controller's Event lane on a fake clock: order kept, nothing dropped, a trickle while status
// writes wait and the full rate once they are done, the rate held across idle gaps, shutdown.
import { describe, expect, it } from 'vitest';
import { EventLane } from '../../../controller/event-lane.js';
import { FakeClock } from '../kube/fake-clock.js';

function setup(): { clock: FakeClock; lane: EventLane; sent: number[]; state: { busy: boolean } } {
  const clock = new FakeClock();
  const state = { busy: false };
  const lane = new EventLane({ clock, busy: () => state.busy, idlePerTick: 10, busyPerTick: 1, tickMs: 50 });
  return { clock, lane, sent: [], state };
}

describe('EventLane', () => {
  it('hands on the first Event at once when nothing waits', () => {
    const { clock, lane, sent } = setup();
    lane.push(() => sent.push(1));
    expect(sent).toEqual([]); // not synchronously: after the current reconcile step
    clock.advance(0);
    expect(sent).toEqual([1]);
    expect(lane.queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('while status writes wait: one per tick; when they are done: ten per tick; in order, none dropped', () => {
    const { clock, lane, sent, state } = setup();
    state.busy = true;
    for (let i = 0; i < 100; i++) lane.push(() => sent.push(i));
    clock.advance(0);
    expect(sent).toEqual([0]);
    clock.advance(500);
    expect(sent).toHaveLength(11);
    state.busy = false;
    clock.advance(50);
    expect(sent).toHaveLength(21);
    clock.advance(400);
    expect(sent).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(lane.queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('holds the rate across idle gaps: a push right after a tick waits for the next one', () => {
    const { clock, lane, sent } = setup();
    for (let i = 0; i < 10; i++) lane.push(() => sent.push(i));
    clock.advance(0);
    expect(sent).toHaveLength(10);
    clock.advance(10);
    for (let i = 10; i < 25; i++) lane.push(() => sent.push(i));
    clock.advance(39);
    expect(sent).toHaveLength(10);
    clock.advance(1);
    expect(sent).toHaveLength(20);
    clock.advance(50);
    expect(sent).toHaveLength(25);
  });

  it('drain runs queued calls now; close forgets the rest and reports how many', () => {
    const { clock, lane, sent } = setup();
    for (let i = 0; i < 30; i++) lane.push(() => sent.push(i));
    expect(lane.drain(5)).toBe(5);
    expect(sent).toEqual([0, 1, 2, 3, 4]);
    expect(lane.close()).toBe(25);
    lane.push(() => sent.push(99));
    clock.advance(1000);
    expect(sent).toHaveLength(5);
    expect(clock.pending).toBe(0);
  });

  it('keeps order through many compactions', () => {
    const { clock, lane, sent } = setup();
    for (let i = 0; i < 5000; i++) lane.push(() => sent.push(i));
    for (let t = 0; t < 600; t++) {
      if (t % 7 === 0) lane.push(() => sent.push(5000 + t / 7));
      clock.advance(50);
    }
    expect(sent).toEqual(Array.from({ length: 5000 + Math.ceil(600 / 7) }, (_, i) => i));
  });

  it('refuses nonsense rates', () => {
    expect(() => new EventLane({ clock: new FakeClock(), busy: () => false, idlePerTick: 0 })).toThrow(RangeError);
    expect(() => new EventLane({ clock: new FakeClock(), busy: () => false, tickMs: 0 })).toThrow(RangeError);
  });
});
