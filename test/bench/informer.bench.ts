// Informer figures on the real API server: list + sync of 10,000 Services and the heap its cache
// holds, for Herald's Informer (500-object pages, the default, and one unpaginated list) and, in the
// same run, client-node's ListWatch (makeInformer, one unpaginated list).
import { CoreV1Api, KubeConfig, makeInformer, type V1Service } from '@kubernetes/client-node';
import { serviceInformer } from '../../kube/informers.js';
import { TestCluster } from '../cluster/cluster.js';

const N = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

/**
 * Heap in use after full collections, once pending I/O (closing watch sockets of a stopped
 * informer, which still reference it) has drained.
 */
async function heapMb(): Promise<number> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc?.();
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

async function createServices(kc: KubeConfig, ns: string): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const body: V1Service = {
        metadata: { name: `svc-${i}`, labels: { app: `app-${i % 100}`, tier: 'bench' }, annotations: { 'metallb.universe.tf/address-pool': 'default' } },
        spec: { type: 'ClusterIP', selector: { app: `app-${i % 100}` }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      };
      await core.createNamespacedService({ namespace: ns, body });
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  return (performance.now() - t0) / 1000;
}

async function startHerald(kc: KubeConfig, pageSize: number): Promise<{ size: number; stop: () => Promise<void> }> {
  const inf = serviceInformer(kc, { namespace: 'bench', pageSize });
  await inf.start();
  return { size: inf.size, stop: () => inf.stop() };
}

async function startListWatch(kc: KubeConfig): Promise<{ size: number; stop: () => Promise<void> }> {
  const core = kc.makeApiClient(CoreV1Api);
  const lw = makeInformer<V1Service>(kc, '/api/v1/namespaces/bench/services', () => core.listNamespacedService({ namespace: 'bench' }));
  await lw.start();
  return { size: lw.list().length, stop: () => lw.stop() };
}

const cluster = await TestCluster.start({ log: () => undefined });
try {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const created = await createServices(kc, 'bench');
  process.stdout.write(`informer.setup.create_services.10k.seconds ${created.toFixed(1)}\n`);

  // Each variant: three cold list+sync runs (median time, the machine is shared), heap of the last.
  const variants: [string, () => Promise<{ size: number; stop: () => Promise<void> }>][] = [
    ['informer.services.10k', async () => startHerald(kc, 500)],
    ['informer.services.10k.unpaginated', async () => startHerald(kc, 0)],
    ['clientnode.listwatch.services.10k', async () => startListWatch(kc)],
  ];
  for (const [label, start] of variants) {
    const times: number[] = [];
    let mb = 0;
    for (let run = 0; run < 3; run++) {
      const base = await heapMb();
      const t0 = performance.now();
      let cache: { size: number; stop: () => Promise<void> } | undefined = await start();
      times.push((performance.now() - t0) / 1000);
      if (cache.size !== N) throw new Error(`${label}: ${cache.size} services cached, want ${N}`);
      mb = (await heapMb()) - base;
      await cache.stop();
      // Drop it explicitly: a suspended async frame keeps dead locals alive, which would count
      // this cache in the next run's baseline.
      cache = undefined;
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`${label}.list_sync.median.seconds ${times[1].toFixed(2)}\n`);
    process.stdout.write(`${label}.cache.heap.mb ${mb.toFixed(1)}\n`);
  }
} finally {
  await cluster.stop();
}
