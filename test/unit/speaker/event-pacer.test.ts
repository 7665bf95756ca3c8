// The speaker's Event pacing: a token bucket (rate, burst), paused while the speaker's own Lease
// renewal is unhealthy (SpeakerLease's health signal, driven here by a fake API), nothing dropped,
// one pending Event per key (the newest wins, in the older one's place).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { EventPacer, EventPacerError } from '../../../speaker/event-pacer.js';

// SpeakerLease writes through kubeRequest: each call here returns a promise the test settles.
const calls: { method: string; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string) =>
    new Promise((resolve, reject) => {
      calls.push({ method, resolve, reject });
    }),
}));
const { SpeakerLease } = await import('../../../speaker/speaker-lease.js');

/** Lets promise callbacks run (the fake API's answers settle asynchronously). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
/** The pacer's items here are the calls themselves. */
const run = (emit: () => void): void => emit();

describe('EventPacer', () => {
  it('hands Events on at the rate after a burst, in order', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 20, burst: 5 });
    const out: number[] = [];
    for (let i = 0; i < 25; i++) pacer.push(`k${i}`, () => out.push(i));
    expect(out).toEqual([0, 1, 2, 3, 4]); // the burst at once
    clock.advance(50);
    expect(out.length).toBe(6); // then one per 50 ms
    clock.advance(500);
    expect(out.length).toBe(16);
    clock.advance(10_000);
    expect(out).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(pacer.queued).toBe(0);
    expect(pacer.sent).toBe(25);
    expect(clock.pending()).toBe(0); // idle: no timer left
    pacer.close();
  });

  it('defaults to 20/s with a burst of 10: 1,000 Events in 49.5 s, none dropped', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock });
    let n = 0;
    for (let i = 0; i < 1000; i++) pacer.push(`k${i}`, () => n++);
    expect(n).toBe(10);
    clock.advance(49_499);
    expect(n).toBe(999);
    clock.advance(1);
    expect(n).toBe(1000);
    pacer.close();
  });

  it('refills the burst after a quiet spell, never beyond it', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 10, burst: 3 });
    let n = 0;
    for (let i = 0; i < 3; i++) pacer.push(`a${i}`, () => n++);
    expect(n).toBe(3);
    clock.advance(60_000);
    for (let i = 0; i < 5; i++) pacer.push(`b${i}`, () => n++);
    expect(n).toBe(6); // 3 tokens, not 600
    clock.advance(200);
    expect(n).toBe(8);
    pacer.close();
  });

  it('pauses and resumes without dropping anything', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 10, burst: 2, paused: true });
    const out: number[] = [];
    for (let i = 0; i < 6; i++) pacer.push(`k${i}`, () => out.push(i));
    clock.advance(5000);
    expect(out).toEqual([]);
    expect(pacer.queued).toBe(6);
    expect(clock.pending()).toBe(0); // no polling while paused
    pacer.setPaused(false);
    expect(out).toEqual([0, 1]); // the burst (tokens refilled while paused, capped)
    clock.advance(100);
    expect(out).toEqual([0, 1, 2]);
    pacer.setPaused(true);
    clock.advance(10_000);
    expect(out).toEqual([0, 1, 2]);
    pacer.setPaused(false);
    clock.advance(10_000);
    expect(out).toEqual([0, 1, 2, 3, 4, 5]);
    pacer.close();
  });

  it('keeps one pending Event per key: the newest wins, in the older one\'s place', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 10, burst: 1 });
    const out: string[] = [];
    pacer.push('a', () => out.push('a1')); // goes at once
    pacer.push('a', () => out.push('a2')); // pending (a1 already written: not coalesced with it)
    pacer.push('b', () => out.push('b1'));
    pacer.push('a', () => out.push('a3')); // replaces a2, ahead of b1
    expect(pacer.coalesced).toBe(1);
    expect(pacer.queued).toBe(2);
    clock.advance(1000);
    expect(out).toEqual(['a1', 'a3', 'b1']);
    pacer.close();
  });

  it('close() drops the queue and accepts nothing more', () => {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 10, burst: 1 });
    let n = 0;
    pacer.push('a', () => n++);
    pacer.push('b', () => n++);
    pacer.close();
    pacer.push('c', () => n++);
    clock.advance(10_000);
    expect(n).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  /**
   * The ring and its index against a Map (the former queue: insertion order is line order, set() on a
   * present key keeps its place), through growth to 4,096 pending and shrinking back, with and
   * without keyOf; keys collide on purpose (a few hot keys re-set while pending).
   */
  for (const withKeyOf of [false, true]) {
    it(`keeps line order and replaces in place like a Map, growing and shrinking (${withKeyOf ? 'keyOf' : 'stored keys'})`, () => {
      const clock = new ManualClock();
      interface Item {
        key: string;
        v: number;
      }
      const out: Item[] = [];
      const pacer = new EventPacer<Item>({ send: (item) => out.push(item), clock, ratePerSecond: 1000, burst: 50, paused: true, ...(withKeyOf ? { keyOf: (item: Item) => item.key } : {}) });
      const model = new Map<string, Item>();
      let seen = 0;
      /** What was sent since the last check is the model's front, in order. */
      const check = (): void => {
        for (; seen < out.length; seen++) {
          const [key, item] = model.entries().next().value as [string, Item];
          expect(out[seen]).toBe(item);
          model.delete(key);
        }
        expect(pacer.queued).toBe(model.size);
      };
      let seed = 7;
      const rand = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      let v = 0;
      let coalesced = 0;
      for (let round = 0; round < 6; round++) {
        const pushes = round % 2 === 0 ? 4096 : 300;
        for (let i = 0; i < pushes; i++) {
          const key = rand(4) === 0 ? `ns/hot-${rand(8)}` : `ns/svc-${round}-${rand(pushes * 2)}`;
          const item = { key, v: v++ };
          if (model.has(key)) coalesced++;
          model.set(key, item);
          pacer.push(key, item);
          if (rand(50) === 0) {
            pacer.setPaused(false);
            clock.advance(rand(40));
            pacer.setPaused(true);
            check();
          }
        }
        check();
        // Drain most of the line (shrinks), keep a few pending into the next round.
        pacer.setPaused(false);
        clock.advance(Math.max(0, model.size - 20));
        pacer.setPaused(true);
        check();
      }
      pacer.setPaused(false);
      clock.advance(10_000);
      check();
      expect(model.size).toBe(0);
      expect(pacer.coalesced).toBe(coalesced);
      expect(pacer.sent).toBe(out.length);
      pacer.close();
    });
  }

  it('refuses a rate or burst it cannot pace with, naming the field', () => {
    const clock = new ManualClock();
    expect(() => new EventPacer({ send: run, clock, ratePerSecond: 0 })).toThrow(EventPacerError);
    expect(() => new EventPacer({ send: run, clock, ratePerSecond: Number.NaN })).toThrow(/ratePerSecond/);
    expect(() => new EventPacer({ send: run, clock, burst: 0.5 })).toThrow(/burst/);
  });
});

describe('SpeakerLease health -> EventPacer', () => {
  afterEach(() => {
    calls.length = 0;
  });

  /** A Lease with a pacer wired as the speaker wires them. */
  function setup() {
    const clock = new ManualClock();
    const pacer = new EventPacer({ send: run, clock, ratePerSecond: 10, burst: 1, paused: true });
    const health: boolean[] = [];
    const lease = new SpeakerLease({
      kubeConfig: {} as never,
      namespace: 'ns',
      node: 'n1',
      clock,
      renewMs: 1000,
      leaseDurationMs: 3000,
      onRenewed: () => undefined,
      onFailed: () => undefined,
      onHealth: (h) => {
        health.push(h);
        pacer.setPaused(!h);
      },
    });
    return { clock, pacer, health, lease };
  }

  /** Answers the oldest open request. */
  const answer = async (ok = true): Promise<void> => {
    const c = calls.shift();
    if (!c) throw new Error('no request in flight');
    if (ok) c.resolve({ metadata: { name: 'herald-speaker-n1', resourceVersion: '1' }, spec: {} });
    else c.reject(Object.assign(new Error('boom'), { status: 500 }));
    await settle();
  };

  it('Events wait for the first renewal, pause while one is slow or failed, resume on a fast success', async () => {
    const { clock, pacer, health, lease } = setup();
    const out: number[] = [];
    for (let i = 0; i < 40; i++) pacer.push(`svc-${i}`, () => out.push(i));
    lease.start(); // GET (to learn the current Lease), then PUT
    expect(calls[0].method).toBe('GET');
    await answer();
    expect(calls[0].method).toBe('PUT');
    clock.advance(10);
    await answer(); // renewed in 10 ms: healthy
    expect(health).toEqual([true]);
    expect(out).toEqual([0]);
    clock.advance(990); // next renewal sent at 1000
    expect(out.length).toBe(10);
    // This renewal hangs: after a quarter of the renew interval the Events stop.
    clock.advance(250);
    expect(health).toEqual([true, false]);
    const paused = out.length;
    expect(paused).toBe(13); // at 1010, 1110, 1210
    clock.advance(1000);
    expect(out.length).toBe(paused);
    await answer(); // a late success is not a healthy one
    expect(health).toEqual([true, false]);
    expect(out.length).toBe(paused);
    // Next renewal (at 2000, due right away): it fails.
    clock.advance(0);
    await answer(false);
    expect(out.length).toBe(paused);
    // After a failure the Lease is re-read (GET), then written (PUT), both fast: healthy again.
    clock.advance(1000);
    await answer();
    clock.advance(5);
    await answer();
    expect(health).toEqual([true, false, true]);
    for (let i = 0; i < 3; i++) {
      clock.advance(995); // the next renewal, answered in 5 ms
      expect(calls[0].method).toBe('PUT');
      clock.advance(5);
      await answer();
    }
    expect(health).toEqual([true, false, true]);
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i)); // all of them, in order
    const stopped = lease.stop(10);
    await settle();
    await answer(); // the DELETE
    await stopped;
    pacer.close();
  });
});
