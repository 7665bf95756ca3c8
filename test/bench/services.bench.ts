// The controller's cold start and restart with N Services (issue 17.3: up to 100,000) against a private
// kube-apiserver 1.20 + etcd. The N Services are written into etcd without a status before kube-apiserver
// starts (etcd-seed.ts, its unallocated variant): creating them through the API runs at 100-190/s here, so
// N was capped at 20,000 when this bench created them. What is timed is the controller alone against a real
// API server: it lists the N, allocates each and writes N statuses (and N Events).
// Figures (one per line; <N> as 100k, 20k, ...):
//   services.n                                         the N measured
//   services.<N>.seed.seconds                          writing them into etcd (not Herald's)
//   services.<N>.apiserver_start.seconds               kube-apiserver's start with N Services stored (not Herald's)
//   services.<N>.controller.cold.seconds               controller start -> every Service allocated (its ipAllocated lines)
//   services.<N>.controller.cold.first_allocated.seconds   start -> the first one (start-up, informer list, restore)
//   services.<N>.controller.cold.status_puts_per_s     status writes per second between the first and the last allocation
//   services.<N>.controller.cold.allocated_per_s.first_tenth / .last_tenth   (a rate that falls with N: a term that grows)
//   services.<N>.controller.cold.peak_rss.mb           the controller's VmHWM
//   services.<N>.controller.cold.api_requests          requests the API server counted meanwhile (all verbs), .per_service,
//                                                      .status_writes, .event_writes
//   services.<N>.controller.cold.{controller,apiserver,etcd}_cpu.pct   % of one core each used over the cold start
//   services.<N>.controller.restart.leading.seconds    restart with all N allocated -> restored from the statuses
//   services.<N>.controller.restart.ready.seconds      restart -> the canary, the Service listed last with its status
//                                                      cleared before the restart, is allocated again (every Service
//                                                      before it in the queue has been reconciled: ready)
//   services.<N>.controller.restart.status_writes      status writes during the restart, the canary's excluded (target 0),
//                                                      .event_writes, .peak_rss.mb
// Services have no node ports (allocateLoadBalancerNodePorts: false: 100,000 do not fit a node-port range) and
// IPv6 ClusterIPs from 2001:db8:96::/108; VIPs come from 2001:db8:1::/96. kube-apiserver 1.20 allocates at most
// 65,534 ClusterIPs of an IPv6 range: past that the seeded ClusterIPs are out of its range and its repair loop
// writes a Warning Event for each such Service every 3 minutes (counted in the requests noted, core `events`). The speaker's side (RSS, start to all
// announced, churn) is speaker-rss.bench.ts and service-churn.bench.ts.
// Env: HERALD_BENCH_SERVICES_N (default 20000; 100000 for issue 17's figure, about half an hour here under load).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { loadKubeConfig } from '../../kube/config.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { ControllerProcess, type LogLine } from '../cluster/controller-process.js';
import { cpuSeconds, SEEDED_APISERVER_ARGS, seedStoppedCluster } from './etcd-seed.js';

const N = Number(process.env.HERALD_BENCH_SERVICES_N ?? 20_000);
const NS = 'big';

const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const note = (text: string): void => void process.stdout.write(`# ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const k = (n: number): string => (n % 1000 === 0 ? `${n / 1000}k` : String(n));
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The API server's request counters by "VERB [group/]resource[/subresource]" (its own count of what it served). */
function apiRequests(c: TestCluster): Map<string, number> {
  const r = spawnSync('curl', ['-s', '--cacert', c.caFile, '-H', `Authorization: Bearer ${c.token}`, `${c.server}/metrics`], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const counts = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    // The group named (events.k8s.io events are Herald's, core events the API server's own, e.g. its repair loop's).
    const key = `${labels.verb} ${labels.group ? `${labels.group}/` : ''}${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

function diff(a: Map<string, number>, b: Map<string, number>, pick: (key: string) => boolean = () => true): number {
  let n = 0;
  for (const [key, v] of b) if (pick(key)) n += v - (a.get(key) ?? 0);
  return n;
}

/** The requests between two counts, by kind, largest first (e.g. "PUT services/status 100000"). */
function breakdown(a: Map<string, number>, b: Map<string, number>): string {
  return [...b]
    .map(([key, v]): [string, number] => [key, v - (a.get(key) ?? 0)])
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([key, v]) => `${key} ${v}`)
    .join(', ');
}

const cluster = await TestCluster.start({
  log: () => undefined,
  extraApiserverArgs: [...SEEDED_APISERVER_ARGS],
});
const { kubeConfig: access } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
const procs: ControllerProcess[] = [];
const startController = (): ControllerProcess => {
  const p = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: 'herald', servicesNamespace: NS, leaderElect: false });
  procs.push(p);
  return p;
};

note(`${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${load()}`);
try {
  out('services.n', N, 0);
  const p = `services.${k(N)}`;
  out(`${p}.seed.seconds`, await seedStoppedCluster(cluster, access, NS, 'node-big', N, 'unallocated'), 1);
  let t = performance.now();
  // Its start lists every Service (the ClusterIP repair loop): minutes at 100,000 under load, and once (load 25)
  // it exited (a fatal error in its start-up) before being ready: then its error lines, and a second start.
  try {
    await cluster.startApiserver(1_800_000);
  } catch (err) {
    note(`kube-apiserver did not start: ${String(err).split('\n')[0]}`);
    for (const l of readFileSync(join(cluster.dir, 'kube-apiserver.log'), 'utf8').split('\n')) if (/^[FE]\d{4}/.test(l)) note(l.slice(0, 400));
    await cluster.startApiserver(1_800_000);
  }
  out(`${p}.apiserver_start.seconds`, (performance.now() - t) / 1000, 1);
  note(`kube-apiserver up, load average ${load()}`);

  // 1. Cold start: nothing allocated.
  const { apiserverPid, etcdPid } = cluster.state();
  const cpu0 = { apiserver: cpuSeconds(apiserverPid), etcd: cpuSeconds(etcdPid) };
  let a = apiRequests(cluster);
  t = performance.now();
  const cold = startController();
  // Counted as the lines come (a filter over every line per line would be quadratic in the bench itself).
  const tenths: number[] = [];
  let allocated = 0;
  await cold.waitForLog(`${N} allocated`, (l: LogLine) => {
    if (l.event !== 'ipAllocated') return false;
    allocated++;
    if (allocated === 1 || allocated * 10 >= N * tenths.length) tenths.push(performance.now());
    return allocated >= N;
  }, 7_200_000);
  const coldS = (performance.now() - t) / 1000;
  const cpu1 = { controller: cpuSeconds(cold.pid), apiserver: cpuSeconds(apiserverPid), etcd: cpuSeconds(etcdPid) };
  let b = apiRequests(cluster);
  out(`${p}.controller.cold.seconds`, coldS, 1);
  out(`${p}.controller.cold.first_allocated.seconds`, ((tenths[0] as number) - t) / 1000, 1);
  const statusWrites = diff(a, b, (key) => key.endsWith('services/status'));
  out(`${p}.controller.cold.status_puts_per_s`, statusWrites / (((tenths.at(-1) as number) - (tenths[0] as number)) / 1000), 0);
  const tenthRate = (i: number): number => N / 10 / (((tenths[i + 1] as number) - (tenths[i] as number)) / 1000);
  out(`${p}.controller.cold.allocated_per_s.first_tenth`, tenthRate(0), 0);
  out(`${p}.controller.cold.allocated_per_s.last_tenth`, tenthRate(tenths.length - 2), 0);
  note(`allocated/s per tenth: ${tenths.slice(0, -1).map((_, i) => tenthRate(i).toFixed(0)).join(' ')}`);
  out(`${p}.controller.cold.peak_rss.mb`, procStatusMb(cold.pid, 'VmHWM'), 1);
  const requests = diff(a, b);
  out(`${p}.controller.cold.api_requests`, requests, 0);
  out(`${p}.controller.cold.api_requests.per_service`, requests / N, 2);
  note(`cold start requests: ${breakdown(a, b)}`);
  out(`${p}.controller.cold.status_writes`, statusWrites, 0);
  out(`${p}.controller.cold.event_writes`, diff(a, b, (key) => /^(POST|PUT|PATCH) (events\.k8s\.io\/)?events$/.test(key)), 0);
  out(`${p}.controller.cold.controller_cpu.pct`, (100 * cpu1.controller) / coldS, 0);
  out(`${p}.controller.cold.apiserver_cpu.pct`, (100 * (cpu1.apiserver - cpu0.apiserver)) / coldS, 0);
  out(`${p}.controller.cold.etcd_cpu.pct`, (100 * (cpu1.etcd - cpu0.etcd)) / coldS, 0);
  note(`cold start done, load average ${load()}`);
  // Its Events trail the status writes; let them finish before the restart.
  await sleep(5000);
  await cold.kill('SIGTERM');

  // 2. Restart with all N allocated but one: restored from the statuses, no status write but that one's. The
  // canary is the Service listed last (etcd's key order), its status cleared while no controller runs: the
  // restart queues it last, so its allocation means every Service before it was reconciled (ready). Not a
  // Service created at the restart: at 65,534 IPv6 Services kube-apiserver 1.20 has no ClusterIP left.
  const canary = Array.from({ length: N }, (_, i) => `svc-${i}`).reduce((x, y) => (y > x ? y : x));
  const path = `/api/v1/namespaces/${NS}/services/${canary}`;
  const current = (await kubeRequest(access, 'GET', path)) as Record<string, unknown>;
  await kubeRequest(access, 'PUT', `${path}/status`, { body: { ...current, status: { loadBalancer: {} } } });
  a = apiRequests(cluster);
  t = performance.now();
  const warm = startController();
  const leading = await warm.leading(600_000);
  out(`${p}.controller.restart.leading.seconds`, (performance.now() - t) / 1000, 2);
  note(`restart: ${String(leading.reason)}`);
  await warm.waitForLog('canary allocated', (l) => l.event === 'ipAllocated' && l.service === `${NS}/${canary}`, 1_800_000);
  out(`${p}.controller.restart.ready.seconds`, (performance.now() - t) / 1000, 2);
  await sleep(3000);
  b = apiRequests(cluster);
  out(`${p}.controller.restart.status_writes`, diff(a, b, (key) => key.endsWith('services/status')) - 1, 0);
  note(`restart requests: ${breakdown(a, b)}`);
  out(`${p}.controller.restart.event_writes`, diff(a, b, (key) => /^(POST|PUT|PATCH) (events\.k8s\.io\/)?events$/.test(key)), 0);
  out(`${p}.controller.restart.peak_rss.mb`, procStatusMb(warm.pid, 'VmHWM'), 1);
  note(`load average at the end ${load()}`);
} finally {
  await Promise.all(procs.map((c) => c.kill('SIGKILL')));
  await cluster.stop();
}
