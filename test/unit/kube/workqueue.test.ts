import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../kube/workqueue.js';
import { FakeClock } from './fake-clock.js';

describe('WorkQueue', () => {
  it('de-duplicates keys added before processing', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands out a key in flight; re-adds it once when done', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // held back while in flight
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting getter', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('retries per key with exponential delay and forgets on success', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, retryInitialMs: 10, retryMaxMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const start = clock.now();
      q.addRateLimited('k');
      let waited = 0;
      while (q.length === 0) {
        clock.advance(1);
        waited++;
        if (waited > 5000) throw new Error('never re-queued');
      }
      delays.push(clock.now() - start);
      void q.get(); // takes the key synchronously
      q.done('k');
    }
    expect(delays).toEqual([10, 20, 40, 80, 160, 320, 640, 1000]);
    expect(q.numRequeues('k')).toBe(8);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  it('keeps the earliest of two delayed adds of one key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 500);
    q.addAfter('k', 100);
    q.addAfter('k', 900);
    expect(q.delayed).toBe(1);
    clock.advance(100);
    expect(q.length).toBe(1);
    clock.advance(1000);
    expect(q.length).toBe(1);
  });

  it('bounds the overall retry rate with a token bucket', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, retryInitialMs: 1, qps: 10, burst: 2 });
    q.addRateLimited('a');
    q.addRateLimited('b');
    q.addRateLimited('c'); // third within the burst of 2: waits for a token (100 ms at 10 qps)
    clock.advance(1);
    expect(q.length).toBe(2);
    clock.advance(98);
    expect(q.length).toBe(2);
    clock.advance(1);
    expect(q.length).toBe(3);
  });

  it('run() reconciles, retries failures and stops on shutDown', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, retryInitialMs: 5 });
    const seen: string[] = [];
    let failOnce = true;
    const errors: string[] = [];
    const running = q.run(
      async (key) => {
        seen.push(key);
        if (key === 'bad' && failOnce) {
          failOnce = false;
          throw new Error('boom');
        }
      },
      { concurrency: 2, onError: (key) => errors.push(key) },
    );
    q.add('good');
    q.add('bad');
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual(['bad']);
    expect(q.numRequeues('bad')).toBe(1);
    clock.advance(5);
    await new Promise((r) => setImmediate(r));
    expect(seen.sort()).toEqual(['bad', 'bad', 'good']);
    expect(q.numRequeues('bad')).toBe(0);
    q.shutDown();
    await running;
  });
});
