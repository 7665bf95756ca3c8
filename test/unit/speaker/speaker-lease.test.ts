// SpeakerLease timing on a manual clock with a fake API (every request a promise the test settles):
// the fast renewal while the liveness quorum is lost (setFast), and the life it publishes and
// reports (lifeStartedAt), which the speaker judges itself by; retries after a failure (backoff with
// jitter, never before a 429's Retry-After).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';

interface Call {
  method: string;
  path: string;
  body: { metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] }; spec?: { acquireTime?: string } } | undefined;
  /** Clock time the request was sent. */
  at: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}
const calls: Call[] = [];
let clock = new ManualClock();
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string, path: string, opts?: { body?: Call['body'] }) =>
    new Promise((resolve, reject) => {
      calls.push({ method, path, body: opts?.body, at: clock.now(), resolve, reject });
    }),
}));
const { SpeakerLease, leaseLivenessWire, LIVENESS_WIRE_ANNOTATION, HEARTBEAT_ANNOTATION, leaseHasHeartbeat, SPEAKER_LEASE_LABEL } = await import('../../../speaker/speaker-lease.js');
const { KubeApiError } = await import('../../../kube/request.js');

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Answers the oldest open request with the Lease (as the API server returns it). */
async function answer(ok: boolean | Error = true): Promise<Call> {
  const c = calls.shift();
  if (!c) throw new Error('no request in flight');
  if (ok === true) c.resolve({ metadata: { name: 'herald-speaker-n1', resourceVersion: String(c.at) }, spec: c.body?.spec ?? {} });
  else c.reject(ok === false ? Object.assign(new Error('boom'), { status: 500 }) : ok);
  await settle();
  return c;
}

/** Runs the clock to `t`, answering every request at once; returns the send times of the PUTs. */
async function runTo(t: number): Promise<number[]> {
  const puts: number[] = [];
  for (;;) {
    while (calls.length > 0) {
      const c = await answer();
      if (c.method === 'PUT') puts.push(c.at);
    }
    if (clock.now() >= t) break;
    clock.advance(Math.min(10, t - clock.now()));
  }
  return puts;
}

/** Stops the Lease, answering its DELETE. */
async function stop(lease: InstanceType<typeof SpeakerLease>): Promise<void> {
  const done = lease.stop();
  for (let i = 0; i < 5 && calls.length === 0; i++) await settle();
  while (calls.length > 0) await answer();
  await done;
}

function setup(random?: () => number, livenessWire?: 1 | 2, split: { heartbeat?: boolean; advertiseHeartbeat?: boolean; periodic?: boolean } = {}) {
  clock = new ManualClock();
  const renewed: number[] = [];
  const lease = new SpeakerLease({
    ...split,
    kubeConfig: {} as never,
    namespace: 'ns',
    node: 'n1',
    clock,
    renewMs: 10_000,
    fastRenewMs: 1000,
    leaseDurationMs: 30_000,
    onRenewed: (sentAt) => renewed.push(sentAt),
    onFailed: () => undefined,
    random,
    livenessWire,
  });
  return { lease, renewed };
}

describe('SpeakerLease', () => {
  afterEach(() => {
    calls.length = 0;
  });

  it('renews every renewMs; setFast(true) renews at once, then every fastRenewMs; setFast(false) goes back to renewMs', async () => {
    const { lease, renewed } = setup();
    lease.start();
    expect(calls[0].method).toBe('GET');
    expect(await runTo(25_000)).toEqual([0, 10_000, 20_000]);
    lease.setFast(true); // at 25,000: no renewal in flight, so one at once
    expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 25_000]]);
    expect(await runTo(28_500)).toEqual([25_000, 26_000, 27_000, 28_000]);
    lease.setFast(true); // no change: no extra renewal
    expect(calls).toEqual([]);
    lease.setFast(false); // at 28,500: the next renewal renewMs after the last one sent
    expect(await runTo(45_000)).toEqual([38_000]);
    expect(renewed).toEqual([0, 10_000, 20_000, 25_000, 26_000, 27_000, 28_000, 38_000]);
    await stop(lease);
  });

  it('setFast(true) while a renewal is in flight waits for it, then renews fast from its send time', async () => {
    const { lease } = setup();
    lease.start();
    await runTo(9_995); // the first renewal (at 0) answered
    clock.advance(5);
    expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 10_000]]);
    clock.advance(300); // still in flight (a slow API server)
    lease.setFast(true);
    expect(calls.length).toBe(1); // no second request while one is in flight
    await answer();
    // The next one is fastRenewMs after the in-flight one was sent: 11,000.
    expect(await runTo(12_500)).toEqual([11_000, 12_000]);
    await stop(lease);
  });

  it('publishes acquireTime = lifeStartedAt, the same on every renewal; newLife() moves it forward and writes it at once (or right after the renewal in flight)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-06T10:00:00.123Z'));
      const { lease } = setup();
      lease.start();
      const start = Date.parse('2026-12-06T10:00:00.123Z');
      expect(lease.lifeStartedAt).toBe(start);
      await answer(); // GET
      const first = await answer(); // PUT
      expect(first.body?.spec?.acquireTime).toBe('2026-12-06T10:00:00.123000Z');
      vi.setSystemTime(new Date('2026-12-06T10:00:20.456Z'));
      clock.advance(10_000);
      expect((await answer()).body?.spec?.acquireTime).toBe('2026-12-06T10:00:00.123000Z');
      lease.newLife(); // at 10,000, nothing in flight: written at once, not at the next interval
      expect(lease.lifeStartedAt).toBe(Date.parse('2026-12-06T10:00:20.456Z'));
      const renewal = await answer();
      expect([renewal.at, renewal.body?.spec?.acquireTime]).toEqual([10_000, '2026-12-06T10:00:20.456000Z']);
      // With a renewal in flight: the new life is written right after it settles.
      clock.advance(10_000);
      expect(calls.map((c) => c.at)).toEqual([20_000]);
      vi.setSystemTime(new Date('2026-12-06T10:00:40.789Z'));
      lease.newLife();
      expect(calls.length).toBe(1);
      clock.advance(50);
      expect((await answer()).body?.spec?.acquireTime).toBe('2026-12-06T10:00:20.456000Z');
      clock.advance(0); // the re-armed timer, due at once
      const next = await answer();
      expect([next.at, next.body?.spec?.acquireTime]).toEqual([20_050, '2026-12-06T10:00:40.789000Z']);
      // Then the normal interval again, from that write.
      expect(await runTo(35_000)).toEqual([30_050]);
      await stop(lease);
    } finally {
      vi.useRealTimers();
    }
  });

  it('advertises its liveness wire version bound to its life; a Lease of another life advertises nothing (an older speaker took it over)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-06T10:00:00.123Z'));
      const { lease } = setup(undefined, 2);
      lease.start();
      await answer(); // GET
      const first = await answer(); // PUT
      const start = Date.parse('2026-12-06T10:00:00.123Z');
      expect(first.body?.metadata?.annotations?.[LIVENESS_WIRE_ANNOTATION]).toBe(`2@${start}`);
      expect(leaseLivenessWire(first.body?.metadata?.annotations, start)).toBe(2);
      vi.setSystemTime(new Date('2026-12-06T10:00:20.456Z'));
      lease.newLife();
      const renewal = await answer();
      expect(renewal.body?.metadata?.annotations?.[LIVENESS_WIRE_ANNOTATION]).toBe(`2@${lease.lifeStartedAt}`);
      // The previous life's annotation on a Lease of this life: an older speaker kept it, reads version 1 only.
      expect(leaseLivenessWire(first.body?.metadata?.annotations, lease.lifeStartedAt)).toBe(1);
      for (const value of [undefined, '', '2', 'x@1', `2@${start}.5`]) expect(leaseLivenessWire(value === undefined ? undefined : { [LIVENESS_WIRE_ANNOTATION]: value }, start)).toBe(1);
      expect(leaseLivenessWire({ [LIVENESS_WIRE_ANNOTATION]: `7@${start}` }, start)).toBe(3); // a newer speaker reads our newest (3) too
      expect(leaseLivenessWire({ [LIVENESS_WIRE_ANNOTATION]: `3@${start}` }, start)).toBe(3);
      expect(leaseLivenessWire({ [LIVENESS_WIRE_ANNOTATION]: `2@${start}` }, undefined)).toBe(1);
      await stop(lease);
    } finally {
      vi.useRealTimers();
    }
  });

  const throttled = (retryAfterMs?: number): Error => new KubeApiError(429, 'PUT', '/leases/x', 'TooManyRequests', 'too many requests', undefined, retryAfterMs);

  /** Fails every request sent until `t` with `err()` (the GET after a non-429 failure included); returns the send times. */
  async function failUntil(t: number, err: () => Error): Promise<Array<[string, number]>> {
    const sent: Array<[string, number]> = [];
    for (;;) {
      while (calls.length > 0) {
        const c = calls[0] as Call;
        sent.push([c.method, c.at]);
        await answer(err());
      }
      if (clock.now() >= t) return sent;
      clock.advance(Math.min(10, t - clock.now()));
    }
  }

  it('after a failure retries before the next interval: 1 s doubling, jittered over [d, 2d), at most the interval; a success ends it', async () => {
    const { lease } = setup(() => 0.5);
    lease.start();
    expect(await runTo(9_995)).toEqual([0]);
    clock.advance(5); // failures answered when sent: times on the 10 ms grid
    // From 10,000 on every write fails (500): retries 1.5 s, 3 s, 6 s, then capped at 10 s after each failure.
    const sent = await failUntil(30_000, () => Object.assign(new Error('boom'), { status: 500 }));
    // After a 500 the Lease is read again (GET) before the write, each GET failing too.
    expect(sent.map(([, at]) => at)).toEqual([10_000, 11_500, 14_500, 20_500, 30_500].filter((at) => at <= 30_000));
    // The retry at 30,500 succeeds: then the normal interval from it.
    clock.advance(500);
    expect(await runTo(45_000)).toEqual([30_500, 40_500]);
    await stop(lease);
  });

  it('a 429 is retried no sooner than its Retry-After (jittered above it), keeps the Lease it has (no re-read), and holds back a fast renewal meanwhile', async () => {
    const { lease } = setup(() => 0.25);
    lease.start();
    expect(await runTo(9_995)).toEqual([0]);
    clock.advance(5);
    expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 10_000]]);
    await answer(throttled(4_000)); // Retry-After 4 s: base max(4 s, 1 s) = 4 s, jittered to 5 s
    lease.setFast(true); // would renew at once: waits for Retry-After
    expect(calls).toEqual([]);
    clock.advance(3_990);
    expect(calls).toEqual([]);
    clock.advance(10); // 14,000: Retry-After passed; the fast renewal goes (still a PUT: no GET after a 429)
    expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 14_000]]);
    await answer(throttled()); // no Retry-After header: 1 s (client-go's default); backoff 2 s, jittered 2.5 s, capped at the fast interval 1 s, but not before Retry-After
    clock.advance(990);
    expect(calls).toEqual([]);
    clock.advance(10);
    expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 15_000]]);
    expect(await runTo(16_500)).toEqual([15_000, 16_000]);
    await stop(lease);
  });

  // The Lease split (liveness on; README: Scale): the membership Lease written on changes only, the heartbeat Lease renewed.
  it('membership Lease, not periodic: one write at start, then only on a change (labels, exclusion, new life), fast while setFast, every renewMs again with setPeriodic(true)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-07T06:00:00.000Z'));
      const { lease } = setup(undefined, undefined, { advertiseHeartbeat: true, periodic: false });
      lease.setNodeLabels({ zone: 'a' }); // before start: published by the first write
      lease.start();
      expect(await runTo(60_000)).toEqual([0]); // a minute: no renewal
      lease.setNodeLabels({ zone: 'a' }); // unchanged: nothing
      lease.setExcluded(false);
      expect(calls).toEqual([]);
      lease.setNodeLabels({ zone: 'b' }); // changed: written at once
      expect(calls.map((c) => [c.method, c.at])).toEqual([['PUT', 60_000]]);
      const labelled = await answer();
      expect(labelled.body?.metadata?.annotations?.[HEARTBEAT_ANNOTATION]).toBe(String(lease.lifeStartedAt));
      expect(labelled.body?.metadata?.labels?.[SPEAKER_LEASE_LABEL]).toBe('herald-speaker');
      lease.setExcluded(true);
      expect(await runTo(70_000)).toEqual([60_000]);
      // Without quorum: fast renewals (what the others count to end a verdict), then none again.
      lease.setFast(true);
      expect(await runTo(72_500)).toEqual([70_000, 71_000, 72_000]);
      lease.setFast(false);
      expect(await runTo(100_000)).toEqual([]);
      // A new life: written at once, advertising the split for that life only.
      vi.setSystemTime(new Date('2026-12-07T06:01:40.000Z'));
      lease.newLife();
      const life = await answer();
      expect(leaseHasHeartbeat(life.body?.metadata?.annotations, lease.lifeStartedAt)).toBe(true);
      expect(leaseHasHeartbeat(labelled.body?.metadata?.annotations, lease.lifeStartedAt)).toBe(false); // an older speaker kept the annotation of another life
      expect(leaseHasHeartbeat(undefined, lease.lifeStartedAt)).toBe(false);
      // An older speaker joined: periodic again, renewMs after the last write, and then every renewMs.
      lease.setPeriodic(true);
      expect(await runTo(125_000)).toEqual([110_000, 120_000]);
      lease.setPeriodic(false);
      expect(await runTo(200_000)).toEqual([]);
      await stop(lease);
    } finally {
      vi.useRealTimers();
    }
  });

  it('membership Lease, not periodic: a failed write is retried (backoff) until it succeeds, then nothing', async () => {
    const { lease } = setup(() => 0, undefined, { advertiseHeartbeat: true, periodic: false });
    lease.start();
    expect(await runTo(5_000)).toEqual([0]);
    lease.touch();
    expect(calls.map((c) => c.at)).toEqual([5_000]);
    await answer(false); // 500: re-read, after 1 s
    clock.advance(1_000);
    expect(calls.map((c) => [c.method, c.at])).toEqual([['GET', 6_000]]);
    await answer(false);
    clock.advance(2_000);
    expect(calls.map((c) => [c.method, c.at])).toEqual([['GET', 8_000]]);
    expect(await runTo(60_000)).toEqual([8_000]);
    await stop(lease);
  });

  it('heartbeat Lease: herald-heartbeat-<node>, no label and no annotation (no speaker watch carries it), renewed every renewMs', async () => {
    const { lease, renewed } = setup(undefined, 2, { heartbeat: true });
    lease.start();
    expect(calls[0]?.path).toBe('/apis/coordination.k8s.io/v1/namespaces/ns/leases/herald-heartbeat-n1');
    const get = calls.shift() as Call;
    get.reject(new KubeApiError(404, 'GET', get.path, 'NotFound', 'not found'));
    await settle();
    const post = calls[0] as Call;
    expect(post.method).toBe('POST');
    expect(post.body?.metadata).toEqual({ name: 'herald-heartbeat-n1', namespace: 'ns' });
    expect(await runTo(25_000)).toEqual([10_000, 20_000]);
    expect(renewed).toEqual([0, 10_000, 20_000]);
    await stop(lease);
  });

  it('names its Node as owner (garbage-collected with it): the membership Lease at once when not periodic, the heartbeat on its next renewal', async () => {
    const { lease } = setup(undefined, undefined, { advertiseHeartbeat: true, periodic: false });
    lease.start();
    expect(await runTo(5_000)).toEqual([0]);
    lease.setOwnerNode('uid-1');
    const owned = await answer();
    expect(owned.body?.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'uid-1' }]);
    lease.setOwnerNode('uid-1'); // unchanged: nothing
    lease.setOwnerNode(undefined);
    expect(await runTo(60_000)).toEqual([]);
    await stop(lease);
    const hb = setup(undefined, undefined, { heartbeat: true }).lease;
    hb.start();
    expect(await runTo(5_000)).toEqual([0]);
    hb.setOwnerNode('uid-2');
    expect(calls).toEqual([]);
    clock.advance(5_000);
    expect((await answer()).body?.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'uid-2' }]);
    await stop(hb);
  });
});
