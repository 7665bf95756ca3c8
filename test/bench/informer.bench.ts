// Informer figures on the real API server: list + sync of 10,000 Services and the heap its cache
// holds, for Herald's Informer and, in the same run, client-node's ListWatch (makeInformer).
import { CoreV1Api, KubeConfig, makeInformer, type V1Service } from '@kubernetes/client-node';
import { serviceInformer } from '../../kube/informers.js';
import { TestCluster } from '../cluster/cluster.js';

const N = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

function heapMb(): number {
  gc?.();
  gc?.();
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

const cluster = await TestCluster.start({ log: () => undefined });
try {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const created = await createServices(kc, 'bench');
  process.stdout.write(`informer.setup.create_services.10k.seconds ${created.toFixed(1)}\n`);

  {
    const base = heapMb();
    const inf = serviceInformer(kc, { namespace: 'bench' });
    const t0 = performance.now();
    await inf.start();
    const secs = (performance.now() - t0) / 1000;
    if (inf.size !== N) throw new Error(`herald informer has ${inf.size} services, want ${N}`);
    const mb = heapMb() - base;
    process.stdout.write(`informer.services.10k.list_sync.seconds ${secs.toFixed(2)}\n`);
    process.stdout.write(`informer.services.10k.cache.heap.mb ${mb.toFixed(1)}\n`);
    await inf.stop();
  }
  {
    const base = heapMb();
    const core = kc.makeApiClient(CoreV1Api);
    const lw = makeInformer<V1Service>(kc, '/api/v1/namespaces/bench/services', () => core.listNamespacedService({ namespace: 'bench' }));
    const t0 = performance.now();
    await lw.start();
    const secs = (performance.now() - t0) / 1000;
    if (lw.list().length !== N) throw new Error(`ListWatch has ${lw.list().length} services, want ${N}`);
    const mb = heapMb() - base;
    process.stdout.write(`clientnode.listwatch.services.10k.list_sync.seconds ${secs.toFixed(2)}\n`);
    process.stdout.write(`clientnode.listwatch.services.10k.cache.heap.mb ${mb.toFixed(1)}\n`);
    await lw.stop();
  }
} finally {
  await cluster.stop();
}
