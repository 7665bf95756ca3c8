import { describe, expect, it } from 'vitest';
import { PacedWriter, type PassResult } from '../../../kube/paced-writer.js';
import { KubeApiError } from '../../../kube/request.js';
import { FakeClock } from './fake-clock.js';

/** A writer whose passes run `script` in turn (the last one repeats), recording when each started. */
function writer(clock: FakeClock, script: ((w: PacedWriter) => Promise<PassResult> | PassResult)[], minIntervalMs = 1_000) {
  const starts: number[] = [];
  const w: PacedWriter = new PacedWriter({
    clock,
    minIntervalMs,
    pass: async () => {
      starts.push(clock.now());
      return script[Math.min(starts.length - 1, script.length - 1)](w);
    },
  });
  return { w, starts };
}

/** Lets the pass's promise settle (its result is handled on a later microtask). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Advances the clock by `ms` (firing due passes), then lets them finish. */
async function step(clock: FakeClock, ms: number): Promise<void> {
  clock.advance(ms);
  await settle();
}

const wrote = (again = false) => (w: PacedWriter): PassResult => {
  w.wrote();
  return { kind: 'done', again };
};

describe('PacedWriter', () => {
  it('coalesces kicks into one pass, and paces the next one minIntervalMs after the last write', async () => {
    const clock = new FakeClock();
    const { w, starts } = writer(clock, [wrote()]);
    w.kick();
    w.kick();
    w.kick();
    await step(clock, 0);
    expect(starts).toEqual([0]);
    clock.advance(300);
    w.kick();
    await step(clock, 699);
    expect(starts).toEqual([0]); // 1 s after the write at 0, not before
    await step(clock, 1);
    expect(starts).toEqual([0, 1_000]);
  });

  it('a pass that wrote nothing does not pace the next', async () => {
    const clock = new FakeClock();
    const { w, starts } = writer(clock, [() => ({ kind: 'idle' })]);
    w.kick();
    await step(clock, 0);
    w.kick();
    await step(clock, 0);
    expect(starts).toEqual([0, 0]);
  });

  it('never runs two passes at once: a kick meanwhile is left to the running pass, whose `again` schedules the next', async () => {
    const clock = new FakeClock();
    let finish: (r: PassResult) => void = () => undefined;
    const { w, starts } = writer(clock, [() => new Promise<PassResult>((resolve) => (finish = resolve)), () => ({ kind: 'done', again: false })], 0);
    w.kick();
    clock.advance(0);
    w.kick();
    clock.advance(5_000);
    expect(starts).toEqual([0]);
    expect(clock.pending).toBe(0);
    finish({ kind: 'done', again: true });
    await settle();
    await step(clock, 0);
    expect(starts).toEqual([0, 5_000]);
    await step(clock, 10_000);
    expect(starts).toEqual([0, 5_000]); // again: false
  });

  it('retries a failed (or throwing) pass with a growing back-off, reset by a pass that succeeds', async () => {
    const clock = new FakeClock();
    const boom = new Error('boom');
    const fail = (): PassResult => ({ kind: 'failed', error: boom });
    const { w, starts } = writer(clock, [fail, () => Promise.reject(boom), () => ({ kind: 'done', again: false }), fail, () => ({ kind: 'idle' })], 0);
    w.kick();
    await step(clock, 0);
    // Back-off steps 1 s then 2 s, less at most 20 % jitter.
    await step(clock, 799);
    expect(starts).toHaveLength(1);
    await step(clock, 201);
    expect(starts).toHaveLength(2);
    await step(clock, 2_000);
    expect(starts).toHaveLength(3);
    expect(starts[2] - starts[1]).toBeGreaterThanOrEqual(1_600);
    // The third pass succeeded: the next failure starts the back-off over at 1 s.
    w.kick();
    await step(clock, 0);
    await step(clock, 1_000);
    expect(starts).toHaveLength(5);
    expect(starts[4] - starts[3]).toBeLessThanOrEqual(1_000);
  });

  it("waits the writer's retryMs, and a 429's Retry-After, when longer than the back-off", async () => {
    const clock = new FakeClock();
    const throttled = new KubeApiError(429, 'PATCH', '/x', 'TooManyRequests', 'slow down', undefined, 5_000);
    const { w, starts } = writer(clock, [() => ({ kind: 'failed', error: new Error('gone'), retryMs: 60_000 }), () => ({ kind: 'failed', error: throttled }), () => ({ kind: 'idle' })], 0);
    w.kick();
    await step(clock, 0);
    await step(clock, 59_999);
    expect(starts).toHaveLength(1);
    await step(clock, 1);
    expect(starts).toEqual([0, 60_000]);
    await step(clock, 4_999);
    expect(starts).toHaveLength(2);
    await step(clock, 1);
    expect(starts).toEqual([0, 60_000, 65_000]);
  });

  it('cancel drops the pending pass; close stops every later one, a retry included', async () => {
    const clock = new FakeClock();
    const { w, starts } = writer(clock, [() => ({ kind: 'failed', error: new Error('boom') })], 0);
    w.kick(100);
    w.cancel();
    await step(clock, 1_000);
    expect(starts).toEqual([]);
    w.kick();
    await step(clock, 0);
    expect(clock.pending).toBe(1); // the retry
    w.close();
    expect(w.isClosed).toBe(true);
    expect(clock.pending).toBe(0);
    w.kick();
    await step(clock, 120_000);
    expect(starts).toEqual([1_000]);
  });
});
