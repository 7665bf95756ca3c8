// Conflict-safe status writes: two writers adding different ingress IPs concurrently lose nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { updateServiceStatus } from '../../kube/status.js';
import { freshNamespace, kubeConfig } from './harness.js';

describe('services/status', () => {
  let kc: KubeConfig;
  let ns: string;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('status');
    await kc.makeApiClient(CoreV1Api).createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } },
    });
  });

  it('two concurrent writers: no lost update', async () => {
    let conflicts = 0;
    const addIp = (ip: string) => (svc: V1Service) => {
      const ingress = svc.status?.loadBalancer?.ingress ?? [];
      if (ingress.some((i) => i.ip === ip)) return undefined;
      return { status: { loadBalancer: { ingress: [...ingress, { ip }] } } };
    };
    // Both writers start from the same stale snapshot, so at least one write must conflict and retry.
    const stale = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    const writer = async (prefix: string): Promise<void> => {
      for (let i = 1; i <= 10; i++) {
        await updateServiceStatus(kc, ns, 'lb', addIp(`${prefix}.${i}`), { current: i === 1 ? stale : undefined, onConflict: () => conflicts++ });
      }
    };
    await Promise.all([writer('192.0.2'), writer('198.51.100')]);
    const svc = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    const ips = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).sort();
    expect(ips).toHaveLength(20);
    expect(new Set(ips).size).toBe(20);
    expect(conflicts).toBeGreaterThan(0);
  });

  it('a no-op mutation does not write; a missing Service yields undefined', async () => {
    const before = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    const same = await updateServiceStatus(kc, ns, 'lb', () => undefined);
    expect(same?.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(await updateServiceStatus(kc, ns, 'missing', () => ({ status: {} }))).toBeUndefined();
  });

  it('annotations ride in the status write: stored by the status subresource, one write, no patch after it', async () => {
    const POOL = 'metallb.io/ip-allocated-from-pool';
    const before = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    let patched = 0;
    const stored = await updateServiceStatus(kc, ns, 'lb', () => ({ status: { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } }, annotations: { [POOL]: 'main' } }), {
      current: before,
      onAnnotationsPatched: () => patched++,
    });
    expect(patched).toBe(0);
    expect(stored?.metadata?.annotations?.[POOL]).toBe('main');
    expect(Number(stored?.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
    const after = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    expect(after.metadata?.resourceVersion).toBe(stored?.metadata?.resourceVersion);
    expect(after.metadata?.annotations?.[POOL]).toBe('main');
    expect(after.status?.loadBalancer?.ingress).toEqual([{ ip: '203.0.113.9' }]);
    // Removed the same way, the status kept as it is.
    await updateServiceStatus(kc, ns, 'lb', (svc) => ({ status: svc.status ?? {}, annotations: { [POOL]: null } }), { onAnnotationsPatched: () => patched++ });
    const removed = await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'lb' });
    expect(removed.metadata?.annotations?.[POOL]).toBeUndefined();
    expect(removed.status?.loadBalancer?.ingress).toEqual([{ ip: '203.0.113.9' }]);
    expect(patched).toBe(0);
  });
});
