// Controller figures against a private test cluster (etcd + kube-apiserver on loopback):
//   controller.start_to_allocated.10k.seconds   process start -> all 10,000 LoadBalancer Services have a status IP
//   controller.start_to_events.10k.seconds      process start -> all 10,000 IPAllocated Events exist (they queue behind status writes)
//   controller.start_to_allocated.10k.{controller,apiserver,etcd}_cpu.seconds   CPU each process spent meanwhile
//   controller.start_to_allocated.10k.{status_put,event_post}.server_mean.ms   the API server's own mean latency of those requests
//   controller.restart_restore.10k.list.ms      of the restart: the quorum list + restore step alone
//   controller.restart_restore.10k.seconds      restart with 10,000 allocated Services -> leading with all restored
//   controller.create_to_status.p50.ms / .p99.ms  Service create -> status IP seen by a watch, 1,000 sequential creates (target p99 <= 300 ms)
// HERALD_BENCH_CONTROLLER_SERVICES overrides 10,000 (e.g. for a quick run).
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';
import { TestCluster } from '../cluster/cluster.js';
import { configMapYaml, ControllerProcess, createServices, ingressOf } from '../cluster/controller-process.js';
import { serviceInformer } from '../../kube/informers.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const N = Number(process.env.HERALD_BENCH_CONTROLLER_SERVICES ?? 10_000);
const SEQUENTIAL = 1_000;
const quiet = (): void => undefined;
const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The API server's request_duration sums and counts by verb/resource/subresource (its own view of latency). */
function apiserverLatencies(c: TestCluster): Map<string, { sum: number; count: number }> {
  const r = spawnSync('curl', ['-s', '--cacert', c.caFile, '-H', `Authorization: Bearer ${c.token}`, `${c.server}/metrics`], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out = new Map<string, { sum: number; count: number }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    const e = out.get(key) ?? { sum: 0, count: 0 };
    if (m[1] === 'sum') e.sum += Number(m[3]);
    else e.count += Number(m[3]);
    out.set(key, e);
  }
  return out;
}

/** Mean server-side latency (ms) of `key` requests between two snapshots. */
function meanMs(a: Map<string, { sum: number; count: number }>, b: Map<string, { sum: number; count: number }>, key: string): number {
  const x = a.get(key) ?? { sum: 0, count: 0 };
  const y = b.get(key) ?? { sum: 0, count: 0 };
  return y.count > x.count ? ((y.sum - x.sum) / (y.count - x.count)) * 1000 : NaN;
}

// 10,000 Services need more node ports than the default range (2,768) has.
const cluster = await TestCluster.start({ log: quiet, extraApiserverArgs: ['--service-node-port-range=20000-32767'] });
const pids = JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as { etcdPid: number; apiserverPid: number };
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
  const lat0 = apiserverLatencies(cluster);
  const cpu0 = { apiserver: cpuSeconds(pids.apiserverPid), etcd: cpuSeconds(pids.etcdPid) };
  const t0 = performance.now();
  const first = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: ns, leaderElect: false, logLevel: 'info' });
  procs.push(first);
  let allocated = 0;
  await first.waitForLog(`${N} allocations`, (l) => l.event === 'ipAllocated' && ++allocated >= N, 1_800_000);
  const k = `${N / 1000}k`;
  out(`controller.start_to_allocated.${k}.seconds`, (performance.now() - t0) / 1000);
  const lat1 = apiserverLatencies(cluster);
  out(`controller.start_to_allocated.${k}.controller_cpu.seconds`, cpuSeconds(first.pid));
  out(`controller.start_to_allocated.${k}.apiserver_cpu.seconds`, cpuSeconds(pids.apiserverPid) - cpu0.apiserver);
  out(`controller.start_to_allocated.${k}.etcd_cpu.seconds`, cpuSeconds(pids.etcdPid) - cpu0.etcd);
  out(`controller.start_to_allocated.${k}.status_put.server_mean.ms`, meanMs(lat0, lat1, 'PUT services/status'), 1);
  out(`controller.start_to_allocated.${k}.event_post.server_mean.ms`, meanMs(lat0, lat1, 'POST events'), 1);
  // Every Service's IPAllocated Event (plus the ConfigMap's ConfigLoaded), counted cheaply: one item and the remaining count.
  const core0 = kc.makeApiClient(CoreV1Api);
  const events = async (): Promise<number> => {
    const page = await core0.listNamespacedEvent({ namespace: ns, limit: 1 });
    return page.items.length + (page.metadata?.remainingItemCount ?? 0);
  };
  while ((await events()) < N + 1) await new Promise((r) => setTimeout(r, 250));
  out(`controller.start_to_events.${k}.seconds`, (performance.now() - t0) / 1000);
  await first.kill('SIGTERM');

  // 2. Restart: everything restored from the statuses before acting.
  const t1 = performance.now();
  const second = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: ns, leaderElect: false });
  procs.push(second);
  const leading = await second.leading(600_000);
  if (!String(leading.reason).startsWith(`restored ${N} Services`)) throw new Error(`restart restored ${String(leading.reason)}`);
  out(`controller.restart_restore.${N / 1000}k.seconds`, (performance.now() - t1) / 1000);
  out(`controller.restart_restore.${N / 1000}k.list.ms`, Number(/in (\d+) ms/.exec(String(leading.reason))?.[1] ?? NaN), 0);

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
