// Event aggregation: a loop of identical events makes one Event object with a count.
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { discoverEventsApi, EventRecorder, type EventsApi } from '../../kube/events.js';
import { freshNamespace, kubeConfig } from './harness.js';

describe('event recorder', () => {
  let kc: KubeConfig;

  beforeAll(() => {
    kc = kubeConfig();
  });

  it('discovers events.k8s.io/v1', async () => {
    expect(await discoverEventsApi(kc)).toBe('events.k8s.io/v1');
  });

  for (const api of ['events.k8s.io/v1', 'v1'] as EventsApi[]) {
    it(`1,000 identical events -> one Event with count 1000 (${api})`, async () => {
      const ns = await freshNamespace('events');
      const errors: unknown[] = [];
      const rec = await EventRecorder.create(kc, {
        api,
        reportingController: 'herald.io/controller',
        reportingInstance: 'test',
        flushIntervalMs: 200,
        onError: (e) => errors.push(e),
      });
      const subject = { apiVersion: 'v1', kind: 'Service', namespace: ns, name: 'web', uid: '00000000-0000-0000-0000-000000000001' };
      for (let i = 0; i < 1000; i++) rec.record(subject, 'Warning', 'AllocationFailed', 'Allocate', 'no free address in pool "default"');
      rec.record(subject, 'Normal', 'IPAllocated', 'Allocate', 'assigned 192.0.2.10');
      await rec.flush();
      expect(errors).toEqual([]);
      if (api === 'v1') {
        const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
        expect(list.items).toHaveLength(2);
        const agg = list.items.find((e) => e.reason === 'AllocationFailed');
        expect(agg?.count).toBe(1000);
        expect(agg?.involvedObject.name).toBe('web');
      } else {
        const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
        expect(list.items).toHaveLength(2);
        const agg = list.items.find((e) => e.reason === 'AllocationFailed');
        expect(agg?.series?.count).toBe(1000);
        expect(agg?.regarding?.name).toBe('web');
        expect(list.items.find((e) => e.reason === 'IPAllocated')?.series).toBeUndefined();
      }
      await rec.close();
    });
  }

  it('events about cluster-scoped objects go to kube-system (events.k8s.io/v1)', async () => {
    const errors: unknown[] = [];
    const rec = await EventRecorder.create(kc, { reportingController: 'herald.io/speaker', reportingInstance: 'node-a', onError: (e) => errors.push(e) });
    const name = `node-${Date.now()}`;
    rec.record({ kind: 'Node', name }, 'Normal', 'Announcing', 'Announce', 'layer2 owner of 192.0.2.10');
    await rec.close();
    expect(errors).toEqual([]);
    const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'kube-system' });
    expect(list.items.some((e) => e.regarding?.name === name && e.reason === 'Announcing')).toBe(true);
  });
});
