// Controller figures against a private test cluster (etcd + kube-apiserver on loopback):
//   controller.start_to_allocated.10k.seconds   process start -> all 10,000 LoadBalancer Services have a status IP
//   controller.restart_restore.10k.seconds      restart with 10,000 allocated Services -> leading with all restored
//   controller.create_to_status.p50.ms / .p99.ms  Service create -> status IP seen by a watch, 1,000 sequential creates (target p99 <= 300 ms)
// HERALD_BENCH_CONTROLLER_SERVICES overrides 10,000 (e.g. for a quick run).
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';
import { TestCluster } from '../cluster/cluster.js';
import { configMapYaml, ControllerProcess, createServices, ingressOf } from '../cluster/controller-process.js';
import { serviceInformer } from '../../kube/informers.js';
import { spawnSync } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';

const N = Number(process.env.HERALD_BENCH_CONTROLLER_SERVICES ?? 10_000);
const SEQUENTIAL = 1_000;
const quiet = (): void => undefined;
const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);

// 10,000 Services need more node ports than the default range (2,768) has.
const cluster = await TestCluster.start({ log: quiet, extraApiserverArgs: ['--service-node-port-range=20000-32767'] });
const procs: ControllerProcess[] = [];
try {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const ns = 'bench';
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const applied = spawnSync('kubectl', ['--kubeconfig', cluster.kubeconfig, 'apply', '-f', '-'], { input: configMapYaml(ns, { main: ['2001:db8::/112'] }), encoding: 'utf8' });
  if (applied.status !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
  const v6 = (): Record<string, unknown> => ({ ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] });

  // 1. N Services exist before the controller starts.
  const tc = performance.now();
  await createServices(kc, ns, 'bulk', N, v6, 32);
  process.stdout.write(`# created ${N} Services in ${((performance.now() - tc) / 1000).toFixed(1)} s (not part of the figure)\n`);
  const t0 = performance.now();
  const first = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: ns, leaderElect: false, logLevel: 'info' });
  procs.push(first);
  let allocated = 0;
  await first.waitForLog(`${N} allocations`, (l) => l.event === 'ipAllocated' && ++allocated >= N, 1_800_000);
  out(`controller.start_to_allocated.${N / 1000}k.seconds`, (performance.now() - t0) / 1000);
  await first.kill('SIGTERM');

  // 2. Restart: everything restored from the statuses before acting.
  const t1 = performance.now();
  const second = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: ns, leaderElect: false });
  procs.push(second);
  const leading = await second.leading(600_000);
  if (!String(leading.reason).startsWith(`restored ${N} Services`)) throw new Error(`restart restored ${String(leading.reason)}`);
  out(`controller.restart_restore.${N / 1000}k.seconds`, (performance.now() - t1) / 1000);

  // 3. Create -> status latency, one Service at a time, observed through a watch.
  const waiting = new Map<string, (svc: V1Service) => void>();
  const inf = serviceInformer(kc, { namespace: ns });
  const seen = (svc: V1Service): void => {
    const name = svc.metadata?.name ?? '';
    if (ingressOf(svc).length > 0) waiting.get(name)?.(svc);
  };
  inf.on('add', seen).on('update', seen);
  await inf.start();
  const core = kc.makeApiClient(CoreV1Api);
  const lat: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const name = `seq-${i}`;
    const done = new Promise<void>((resolve) => waiting.set(name, () => resolve()));
    const t = performance.now();
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...v6() } } });
    await done;
    lat.push(performance.now() - t);
    waiting.delete(name);
  }
  await inf.stop();
  lat.sort((a, b) => a - b);
  out('controller.create_to_status.p50.ms', lat[Math.floor(lat.length * 0.5)], 1);
  out('controller.create_to_status.p99.ms', lat[Math.floor(lat.length * 0.99)], 1);
  const rss = second.pid ? Number(spawnSync('ps', ['-o', 'rss=', '-p', String(second.pid)], { encoding: 'utf8' }).stdout.trim()) / 1024 : NaN;
  out(`controller.rss.${(N + SEQUENTIAL) / 1000}k_services.mb`, rss, 0);
} finally {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await cluster.stop();
}
