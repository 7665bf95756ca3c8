// EventRecorder aggregation (client-go's EventCorrelator semantics): the same object, type, reason,
// action and note within the TTL is one Event whose count grows; any field differing is another
// Event. The aggregates are keyed by a digest of those fields (kube/events.ts aggregateKey): this
// checks that each field still tells aggregates apart, fields with separators in them included.
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';

const calls: Array<{ method: string; path: string; body: unknown }> = [];
const clock = new ManualClock();
vi.mock('../../../kube/request.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../kube/request.js')>()),
  kubeRequest: (_kc: unknown, method: string, path: string, opts?: { body?: unknown }) => {
    calls.push({ method, path, body: opts?.body });
    return Promise.resolve({});
  },
}));
const { EventRecorder } = await import('../../../kube/events.js');

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('EventRecorder aggregation', () => {
  it('counts repeats of one Event; a different object, uid, type, reason, action or note is another Event', async () => {
    calls.length = 0;
    const rec = await EventRecorder.create({} as never, { reportingController: 'herald.io/test', reportingInstance: 'n1', api: 'v1', clock, flushIntervalMs: 1000 });
    const web = { kind: 'Service', namespace: 'ns', name: 'web', uid: 'u1' };
    for (let i = 0; i < 3; i++) rec.record(web, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record({ ...web, uid: 'u2' }, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record({ ...web, name: 'web2' }, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record({ ...web, namespace: 'ns/web' }, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record({ ...web, kind: 'Pod' }, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record(web, 'Warning', 'nodeAssigned', 'Announce', 'announcing from node "a"');
    rec.record(web, 'Normal', 'other', 'Announce', 'announcing from node "a"');
    rec.record(web, 'Normal', 'nodeAssigned', 'Withdraw', 'announcing from node "a"');
    rec.record(web, 'Normal', 'nodeAssigned', 'Announce', 'announcing from node "b"');
    // Separators inside a field do not make two different Events one.
    rec.record({ ...web, name: 'a","b' }, 'Normal', 'x', 'Announce', 'n');
    rec.record({ ...web, name: 'a' }, 'Normal', 'b","x', 'Announce', 'n');
    await settle();
    expect(calls.filter((c) => c.method === 'POST').length).toBe(11);
    clock.advance(1000);
    await settle();
    // The three repeats: one count update.
    const patches = calls.filter((c) => c.method === 'PATCH');
    expect(patches.length).toBe(1);
    expect(patches[0]?.body).toMatchObject({ count: 3 });
    await rec.close();
  });
});
