// 100,000 Services (issue 17.3) against a private kube-apiserver + etcd, bounded in time:
//   services.create_per_s                          the API server's create rate here (first 10,000); N is chosen from it
//   services.n                                     the N measured (100,000, or what the create budget allows)
//   services.<N>.controller.cold.seconds           controller start -> every one of N Services allocated
//   services.<N>.controller.cold.peak_rss.mb       its peak RSS (VmHWM)
//   services.<N>.controller.cold.api_requests      requests the API server counted meanwhile (all verbs), and per Service
//   services.<N>.controller.restart.leading.seconds  restart with all N allocated -> restored from the statuses
//   services.<N>.controller.restart.ready.seconds  restart -> a Service created at the restart is allocated (every
//                                                  Service before it in the queue has been reconciled: ready)
//   services.<N>.controller.restart.status_writes  status writes during the restart, the canary's excluded (target 0)
//   services.10k.speaker.rss.mb / services.<N>.speaker.rss.mb   one speaker holding 10,000 / N Services (settled)
//   services.10k.churn.create_to_announced.p50.ms / .p99.ms   Service create -> a speaker announces it, with 10,000
//                                                  Services and 100 creates/deletes per second meanwhile
// Services have no node ports (allocateLoadBalancerNodePorts: false: 100,000 do not fit a node-port range) and
// IPv6 ClusterIPs from 2001:db8:96::/108; VIPs come from 2001:db8:1::/96.
// Env: HERALD_BENCH_SERVICES_N (upper bound, default 100000), HERALD_BENCH_SERVICES_CREATE_BUDGET_S (default 900:
// N is cut so that creating it takes about that long at the measured rate), HERALD_BENCH_SERVICES_TEN (default 10000).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { loadKubeConfig } from '../../kube/config.js';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { ControllerProcess } from '../cluster/controller-process.js';
import { setEndpoints, SpeakerProcess, speakerConfigYaml, type RecordLine } from '../cluster/speaker-process.js';
import { retryWrite } from '../cluster/retry-write.js';
import { KubeConfig } from '@kubernetes/client-node';

const MAX_N = Number(process.env.HERALD_BENCH_SERVICES_N ?? 100_000);
const TEN = Number(process.env.HERALD_BENCH_SERVICES_TEN ?? 10_000);
const BUDGET_S = Number(process.env.HERALD_BENCH_SERVICES_CREATE_BUDGET_S ?? 900);
const CHURN_PER_S = 100;
const PROBES = Number(process.env.HERALD_BENCH_SERVICES_PROBES ?? 200);

const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const note = (text: string): void => void process.stdout.write(`# ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const k = (n: number): string => (n % 1000 === 0 ? `${n / 1000}k` : String(n));
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The API server's request counters by "VERB resource[/subresource]" (its own count of what it served). */
function apiRequests(c: TestCluster): Map<string, number> {
  const r = spawnSync('curl', ['-s', '--cacert', c.caFile, '-H', `Authorization: Bearer ${c.token}`, `${c.server}/metrics`], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const counts = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

function diff(a: Map<string, number>, b: Map<string, number>, pick: (key: string) => boolean = () => true): number {
  let n = 0;
  for (const [key, v] of b) if (pick(key)) n += v - (a.get(key) ?? 0);
  return n;
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const cluster = await TestCluster.start({
  log: () => undefined,
  // 100,000 ClusterIPs (a /108 of the documentation prefix: the API server's largest), no node ports.
  extraApiserverArgs: ['--service-cluster-ip-range=2001:db8:96::/108', '--feature-gates=ServiceLBNodePortControl=true'],
});
const { kubeConfig: access } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const procs: Array<ControllerProcess | SpeakerProcess> = [];
const svcBody = (name: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] },
});
const create = (ns: string, name: string): Promise<unknown> => retryWrite(`create ${ns}/${name}`, () => kubeRequest(access, 'POST', `/api/v1/namespaces/${ns}/services`, { body: svcBody(name) }));
const allocatedLogs = (p: ControllerProcess): number => p.lines.filter((l) => l.event === 'ipAllocated').length;
const startController = (servicesNamespace: string): ControllerProcess => {
  const p = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: 'herald', servicesNamespace, leaderElect: false });
  procs.push(p);
  return p;
};
const startSpeaker = (node: string, servicesNamespace: string): SpeakerProcess => {
  const s = new SpeakerProcess({ kubeconfig: cluster.kubeconfig, node, namespace: 'herald', servicesNamespace, nodeArgs: SPEAKER_NODE_FLAGS, env: { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX } });
  procs.push(s);
  return s;
};
/** Waits until a speaker has seen `n` Services (its announcements settle) and its RSS stops moving. */
const settledRss = async (s: SpeakerProcess): Promise<number> => {
  await s.waitForLog('config', (l) => l.event === 'configLoaded', 300_000);
  let last = 0;
  let rss = procStatusMb(s.child.pid as number, 'VmRSS');
  for (let i = 0; i < 60 && Math.abs(rss - last) > 0.5; i++) {
    await sleep(3000);
    last = rss;
    rss = procStatusMb(s.child.pid as number, 'VmRSS');
  }
  return rss;
};

note(`${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${load()}`);
try {
  for (const ns of ['herald', 'ten', 'big']) await kubeRequest(access, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const applied = spawnSync('kubectl', ['--kubeconfig', cluster.kubeconfig, 'apply', '-f', '-'], {
    input: speakerConfigYaml('herald', { v6: { protocol: 'layer2', addresses: ['2001:db8:1::/96'] } }),
    encoding: 'utf8',
  });
  if (applied.status !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);

  // 1. 10,000 Services: the create rate, which bounds N.
  let t = performance.now();
  await pool(TEN, 32, (i) => create('ten', `t-${i}`).then(() => undefined));
  const rate = TEN / ((performance.now() - t) / 1000);
  out('services.create_per_s', rate, 0);
  const n = Math.max(TEN, Math.min(MAX_N, Math.floor((rate * BUDGET_S) / 1000) * 1000));
  out('services.n', n, 0);
  if (n < MAX_N) note(`N cut to ${n}: creating ${MAX_N} at ${rate.toFixed(0)}/s would take ${(MAX_N / rate).toFixed(0)} s, over the ${BUDGET_S} s budget`);

  // 2. The 10,000: allocated, one speaker holding them, then create -> announced under churn.
  const small = startController('ten');
  await small.waitForLog('10k allocated', () => allocatedLogs(small) >= TEN, 1_800_000);
  const sp10 = startSpeaker('node-ten', 'ten');
  out(`services.${k(TEN)}.speaker.rss.mb`, await settledRss(sp10), 1);
  let churning = true;
  let churned = 0;
  const churn = (async () => {
    // 100 changes a second on a fixed schedule (not waiting for answers, at most 200 in flight):
    // every 100 ms 5 creates and the deletes of the 5 churn Services created 1 s before.
    let i = 0;
    let inFlight = 0;
    const t0 = performance.now();
    const fire = (req: () => Promise<unknown>): void => {
      if (inFlight >= 200) return;
      inFlight++;
      void req()
        .catch(() => undefined)
        .finally(() => {
          inFlight--;
          churned++;
        });
    };
    for (let tick = 0; churning; tick++) {
      for (let x = 0; x < CHURN_PER_S / 20; x++, i++) {
        const j = i;
        fire(() => create('ten', `c-${j}`));
        if (j >= (CHURN_PER_S / 2)) fire(() => kubeRequest(access, 'DELETE', `/api/v1/namespaces/ten/services/c-${j - CHURN_PER_S / 2}`));
      }
      await sleep(Math.max(0, t0 + (tick + 1) * 100 - performance.now()));
    }
  })();
  await sleep(3000);
  const churnStart = performance.now();
  const churnedStart = churned;
  const lat: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    const name = `p-${i}`;
    const t0 = Date.now();
    await create('ten', name);
    await retryWrite(`endpoints of ${name}`, () => setEndpoints(kc, 'ten', name, [{ node: 'elsewhere', ready: true }]));
    const rec = await sp10.waitFor<RecordLine>(`${name} announced`, (r) => r.op === 'setBalancer' && r.name === `ten/${name}`, 60_000);
    lat.push(rec.t - t0);
  }
  const achieved = (churned - churnedStart) / ((performance.now() - churnStart) / 1000);
  churning = false;
  await churn;
  lat.sort((a, b) => a - b);
  out(`services.${k(TEN)}.churn.achieved_changes_per_s`, achieved, 0);
  out(`services.${k(TEN)}.churn.create_to_announced.p50.ms`, lat[Math.floor(lat.length * 0.5)] as number, 0);
  out(`services.${k(TEN)}.churn.create_to_announced.p99.ms`, lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] as number, 0);
  await sp10.kill('SIGTERM');
  await small.kill('SIGTERM');

  // 3. N Services, then the controller's cold start.
  t = performance.now();
  await pool(n, 32, (i) => create('big', `b-${i}`).then(() => undefined));
  note(`created ${n} Services in ${((performance.now() - t) / 1000).toFixed(0)} s, load average ${load()}`);
  let a = apiRequests(cluster);
  t = performance.now();
  const cold = startController('big');
  await cold.waitForLog(`${n} allocated`, () => allocatedLogs(cold) >= n, 3_600_000);
  out(`services.${k(n)}.controller.cold.seconds`, (performance.now() - t) / 1000, 1);
  let b = apiRequests(cluster);
  out(`services.${k(n)}.controller.cold.peak_rss.mb`, procStatusMb(cold.pid as number, 'VmHWM'), 1);
  out(`services.${k(n)}.controller.cold.api_requests`, diff(a, b), 0);
  out(`services.${k(n)}.controller.cold.status_writes`, diff(a, b, (key) => key.endsWith('services/status')), 0);
  // Its Events trail the status writes; let them finish before the restart.
  await sleep(5000);
  await cold.kill('SIGTERM');

  // 4. Restart with all N allocated: restored from the statuses, no status write.
  a = apiRequests(cluster);
  t = performance.now();
  const warm = startController('big');
  const leading = await warm.leading(600_000);
  out(`services.${k(n)}.controller.restart.leading.seconds`, (performance.now() - t) / 1000, 2);
  note(`restart: ${String(leading.reason)}`);
  await create('big', 'zz-canary');
  await warm.waitForLog('canary allocated', (l) => l.event === 'ipAllocated' && l.service === 'big/zz-canary', 600_000);
  out(`services.${k(n)}.controller.restart.ready.seconds`, (performance.now() - t) / 1000, 2);
  await sleep(3000);
  b = apiRequests(cluster);
  out(`services.${k(n)}.controller.restart.status_writes`, diff(a, b, (key) => key.endsWith('services/status')) - 1, 0);
  out(`services.${k(n)}.controller.restart.event_writes`, diff(a, b, (key) => /^(POST|PUT|PATCH) events$/.test(key)), 0);
  out(`services.${k(n)}.controller.restart.peak_rss.mb`, procStatusMb(warm.pid as number, 'VmHWM'), 1);

  // 5. One speaker holding all N.
  const spN = startSpeaker('node-big', 'big');
  out(`services.${k(n)}.speaker.rss.mb`, await settledRss(spN), 1);
  note(`load average at the end ${load()}`);
} finally {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await cluster.stop();
}
