// Create -> allocated and create -> announced with N existing Services under churn (issue 17.3's
// "p99 ≤ 100 ms at 10k with a churn of 100 creates/deletes per second"), against a private
// kube-apiserver 1.20 + etcd. The N Services (allocated, each with an EndpointSlice on the speaker's
// node) are written straight into etcd before the API server starts, as speaker-rss.bench.ts does
// (creating 10,000 through the API and letting the controller allocate them takes minutes here); the
// real controller (no leader election) then restores them (0 writes) and one real speaker
// (`--announcer record`, as the chart runs it) announces all N. Then, while 100 changes/s run
// against the same namespace (every 100 ms 5 creates and 5 deletes of the oldest churn Services whose
// create was answered, not waiting for answers, at most 200 in flight; no endpoints, so the speaker
// decides but announces nothing), PROBES Services are created one at a time, each after its
// EndpointSlice (so its create is the last write the path needs). Per stage, p50 / p99 / max (ms):
//   churn.<N>.create_request            create sent -> answered (the API server)
//   churn.<N>.create_to_watched         create sent -> a watch (this process) sees it (the API server)
//   churn.<N>.create_to_allocated       create sent -> that watch sees its status address
//   churn.<N>.create_to_announced       create sent -> the speaker's setBalancer (its own clock, same host)
//   churn.<N>.watched_to_allocated      the controller's part: its queue, decision and status write
//   churn.<N>.allocated_to_announced    the speaker's part (negative when its watch is served first)
// and churn.<N>.probes_lost (not announced within 60 s: not in the percentiles), churn.<N>.achieved_changes_per_s (churn requests answered per second over the probe window),
// churn.<N>.cpu.<process>.percent (kube-apiserver, etcd, controller, speaker, this bench over that window,
// % of one core), churn.<N>.api_requests_per_s (what the API server counted, all verbs),
// churn.<N>.speaker_fenced (times the speaker fenced over the whole run, start-up included).
// Env: HERALD_BENCH_CHURN_N (default 10000), HERALD_BENCH_CHURN_PER_S (default 100),
// HERALD_BENCH_CHURN_PROBES (default 200), HERALD_BENCH_CHURN_PROF=DIR: both daemons run with
// `node --cpu-prof` and write their profiles to DIR at the end (SIGTERM).
// HERALD_BENCH_CHURN_PIN=1: what a real cluster would see, where the API server and etcd run on
// control-plane nodes, not beside the controller and speaker: kube-apiserver and etcd pinned to CPU 0,
// this process (the load generator and the probes' watch) and the Herald daemons to CPU 1
// (`taskset -a`, every thread; children inherit it). Other processes of the machine still run on
// both, and one core for kube-apiserver + etcd is less than a control plane has: the API server's
// own figures (create_request) are then not a real cluster's. Printed as churn.<N>.pinned.*.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import type { V1Service } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../kube/config.js';
import { decodeObject } from '../../kube/decode.js';
import { Informer } from '../../kube/informer.js';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { ControllerProcess } from '../cluster/controller-process.js';
import { retryWrite } from '../cluster/retry-write.js';
import { setEndpoints, SpeakerProcess, type RecordLine } from '../cluster/speaker-process.js';
import { cpuSeconds, SEEDED_APISERVER_ARGS, seedStoppedCluster } from './etcd-seed.js';

const N = Number(process.env.HERALD_BENCH_CHURN_N ?? 10_000);
const CHURN_PER_S = Number(process.env.HERALD_BENCH_CHURN_PER_S ?? 100);
const PROBES = Number(process.env.HERALD_BENCH_CHURN_PROBES ?? 200);
const PROF_DIR = process.env.HERALD_BENCH_CHURN_PROF;
const PIN = process.env.HERALD_BENCH_CHURN_PIN === '1';
/** A probe not announced (or its status not seen) this long after its create is counted lost. */
const PROBE_TIMEOUT_MS = 60_000;
const NS = 'ten';
const NODE = 'node-ten';
const PROBE_LABEL = 'herald-bench';

const out = (name: string, value: number, digits = 0): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const note = (text: string): void => void process.stdout.write(`# ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
const k = (n: number): string => (n % 1000 === 0 ? `${n / 1000}k` : String(n));

/** The API server's count of requests served (all verbs). */
function apiRequests(c: TestCluster): number {
  const r = spawnSync('curl', ['-s', '--cacert', c.caFile, '-H', `Authorization: Bearer ${c.token}`, `${c.server}/metrics`], { encoding: 'utf8', maxBuffer: 1 << 28 });
  let n = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^apiserver_request_total\{.*\} (\S+)$/.exec(line);
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Pins every thread of `pid` to `cpu` (taskset, util-linux); its later threads and children inherit it. */
function pin(pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpu} ${pid}: ${r.error?.message ?? r.stderr}`);
}

function percentiles(name: string, values: number[]): void {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return note(`${name}: no samples`);
  out(`${name}.p50.ms`, v[Math.floor(v.length * 0.5)] as number);
  out(`${name}.p99.ms`, v[Math.min(v.length - 1, Math.floor(v.length * 0.99))] as number);
  out(`${name}.max.ms`, v[v.length - 1] as number);
}

note(`${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${load()}`);
// Pinned: this process first, so every child (etcd, kube-apiserver, the daemons) starts on CPU 1;
// etcd and kube-apiserver move to CPU 0 once started.
if (PIN) {
  if (cpus().length < 2) throw new Error('HERALD_BENCH_CHURN_PIN=1 needs 2 CPUs');
  pin(process.pid, 1);
}
const cluster = await TestCluster.start({
  log: () => undefined,
  extraApiserverArgs: [...SEEDED_APISERVER_ARGS],
});
const { kubeConfig: access } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const procs: Array<ControllerProcess | SpeakerProcess> = [];
const profArgs = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] : [];
let probes: Informer<V1Service> | undefined;
try {
  note(`${N} allocated Services and their EndpointSlices written to etcd in ${(await seedStoppedCluster(cluster, access, NS, NODE, N)).toFixed(1)} s`);
  await cluster.startApiserver(900_000);
  const apiserverPid = cluster.state().apiserverPid;
  const etcdPid = cluster.state().etcdPid;
  if (PIN) {
    pin(apiserverPid, 0);
    pin(etcdPid, 0);
    note('pinned: kube-apiserver and etcd on CPU 0; this process, the controller and the speaker on CPU 1');
  }

  const t = performance.now();
  const controller = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: 'herald', servicesNamespace: NS, leaderElect: false, nodeArgs: profArgs });
  procs.push(controller);
  const speaker = new SpeakerProcess({ kubeconfig: cluster.kubeconfig, node: NODE, namespace: 'herald', servicesNamespace: NS, nodeArgs: [...SPEAKER_NODE_FLAGS, ...profArgs], env: { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX } });
  procs.push(speaker);
  await controller.waitForLog('config loaded', (l) => l.event === 'configLoaded', 600_000);
  const announced = new Set<string>();
  await speaker.waitFor(`all ${N} announced`, (r: RecordLine) => r.op === 'setBalancer' && r.name !== undefined && announced.add(r.name).size >= N, 900_000);
  note(`controller and speaker started, all ${N} announced, in ${((performance.now() - t) / 1000).toFixed(1)} s; load average ${load()}`);

  // The probes, watched by label: when a client sees each created, and each allocated.
  const watchedAt = new Map<string, number>();
  const allocatedAt = new Map<string, number>();
  const watchers: Array<() => void> = [];
  const seen = (svc: V1Service): void => {
    const name = svc.metadata?.name ?? '';
    if (!watchedAt.has(name)) watchedAt.set(name, Date.now());
    if (allocatedAt.has(name) || !svc.status?.loadBalancer?.ingress?.length) return;
    allocatedAt.set(name, Date.now());
    for (const w of watchers.splice(0)) w();
  };
  probes = new Informer<V1Service>({ kubeConfig: access, path: `/api/v1/namespaces/${NS}/services`, labelSelector: `${PROBE_LABEL}=probe`, decode: decodeObject<V1Service>, name: 'probes' });
  probes.on('add', seen).on('update', seen);
  await probes.start();
  const allocated = async (name: string, timeoutMs: number): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    while (!allocatedAt.has(name)) {
      if (Date.now() > deadline) throw new Error(`${name} not allocated within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        watchers.push(r);
        setTimeout(r, 1000);
      });
    }
    return allocatedAt.get(name) as number;
  };

  const body = (name: string, probe: boolean): Record<string, unknown> => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(probe ? { labels: { [PROBE_LABEL]: 'probe' } } : {}) },
    spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] },
  });
  // Churn on a fixed schedule, not waiting for answers: every 100 ms CHURN_PER_S / 20 creates and as many
  // deletes of the oldest churn Services whose create was answered (so the count stays at N), at most
  // 200 requests in flight (a change that would pass that is skipped and counted).
  let churning = true;
  let churned = 0;
  const churnFailed = new Map<string, number>();
  let skipped = 0;
  const churn = (async () => {
    const created: string[] = [];
    let i = 0;
    let inFlight = 0;
    const t0 = performance.now();
    const fire = (req: () => Promise<unknown>, then?: () => void): void => {
      if (inFlight >= 200) {
        skipped++;
        return;
      }
      inFlight++;
      void req()
        .then(() => {
          churned++;
          then?.();
        })
        .catch((err: unknown) => {
          const what = `${(err as { status?: number }).status ?? (err as Error).message}`;
          churnFailed.set(what, (churnFailed.get(what) ?? 0) + 1);
        })
        .finally(() => inFlight--);
    };
    const perTick = CHURN_PER_S / 20;
    for (let tick = 0; churning; tick++) {
      for (let x = 0; x < perTick; x++, i++) {
        const name = `c-${i}`;
        fire(() => kubeRequest(access, 'POST', `/api/v1/namespaces/${NS}/services`, { body: body(name, false) }), () => created.push(name));
        const old = created.shift();
        if (old !== undefined) fire(() => kubeRequest(access, 'DELETE', `/api/v1/namespaces/${NS}/services/${old}`));
      }
      await sleep(Math.max(0, t0 + (tick + 1) * 100 - performance.now()));
    }
  })();
  await sleep(3000);
  const pids: Record<string, number> = { apiserver: apiserverPid, etcd: etcdPid, controller: controller.pid, speaker: speaker.pid, bench: process.pid };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const req0 = apiRequests(cluster);
  const windowStart = performance.now();
  const churnedStart = churned;
  let lost = 0;
  const stages = { create_request: [] as number[], create_to_watched: [] as number[], create_to_allocated: [] as number[], create_to_announced: [] as number[], watched_to_allocated: [] as number[], allocated_to_announced: [] as number[] };
  for (let i = 0; i < PROBES; i++) {
    const name = `p-${i}`;
    // The EndpointSlice first: the create is then the last write the path needs.
    await retryWrite(`endpoints of ${name}`, () => setEndpoints(kc, NS, name, [{ node: NODE, ready: true }]));
    const t0 = Date.now();
    await retryWrite(`create ${name}`, () => kubeRequest(access, 'POST', `/api/v1/namespaces/${NS}/services`, { body: body(name, true) }));
    stages.create_request.push(Date.now() - t0);
    let rec: RecordLine;
    let allocatedT: number;
    try {
      rec = await speaker.waitFor<RecordLine>(`${name} announced`, (r) => r.op === 'setBalancer' && r.name === `${NS}/${name}`, PROBE_TIMEOUT_MS);
      allocatedT = await allocated(name, PROBE_TIMEOUT_MS);
    } catch (err) {
      // Counted, not a percentile: a starved machine (or a fenced speaker) must not end the run.
      lost++;
      note(`${name}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const watchedT = watchedAt.get(name) as number;
    stages.create_to_watched.push(watchedT - t0);
    stages.create_to_allocated.push(allocatedT - t0);
    stages.create_to_announced.push(rec.t - t0);
    stages.watched_to_allocated.push(allocatedT - watchedT);
    stages.allocated_to_announced.push(rec.t - allocatedT);
  }
  const windowS = (performance.now() - windowStart) / 1000;
  const req1 = apiRequests(cluster);
  const cpu1 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const achieved = (churned - churnedStart) / windowS;
  churning = false;
  await churn;
  const prefix = `churn.${k(N)}${PIN ? '.pinned' : ''}`;
  out(`${prefix}.achieved_changes_per_s`, achieved);
  out(`${prefix}.probes_lost`, lost);
  if (skipped > 0 || churnFailed.size > 0) note(`churn: ${skipped} changes skipped (200 in flight), failed: ${[...churnFailed].map(([what, n]) => `${n} x ${what}`).join(', ') || 'none'}`);
  // Stages: the API server (create answered, seen by a watch), the controller (watched -> status seen:
  // its queue, decision and status write), the speaker (status seen -> announced; may be negative by
  // the two watches' delivery order).
  for (const [stage, values] of Object.entries(stages)) percentiles(`${prefix}.${stage}`, values);
  // A fenced speaker (no Lease renewal within its duration) withdraws everything until it renews.
  out(`${prefix}.speaker_fenced`, speaker.logs.filter((l) => l.event === 'fenced').length);
  for (const name of Object.keys(pids)) out(`${prefix}.cpu.${name}.percent`, (100 * ((cpu1[name] as number) - (cpu0[name] as number))) / windowS, 1);
  out(`${prefix}.api_requests_per_s`, (req1 - req0) / windowS);
  note(`probe window ${windowS.toFixed(1)} s; load average at the end ${load()}`);
  // What else the daemons did meanwhile (a fenced speaker withdraws and re-announces everything).
  for (const [who, lines] of [['controller', controller.lines], ['speaker', speaker.logs]] as const) {
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(String(l.event), (counts.get(String(l.event)) ?? 0) + 1);
    note(`${who} log events: ${[...counts].sort((x, y) => y[1] - x[1]).map(([e, n]) => `${e} ${n}`).join(', ')}`);
    for (const l of lines.filter((x) => (x.level === 'warn' || x.level === 'error' || x.event === 'reconcileFailed') && x.event !== 'fenced').slice(0, 3)) note(`${who}: ${JSON.stringify(l).slice(0, 400)}`);
    // Why each fence happened (the first 5): the reason says how late, err the last renewal's failure.
    for (const l of lines.filter((x) => x.event === 'fenced').slice(0, 5)) note(`${who}: ${JSON.stringify(l).slice(0, 600)}`);
  }
  // Profiles are written at exit: a graceful stop.
  if (PROF_DIR) await Promise.all([controller.kill('SIGTERM'), speaker.kill('SIGTERM')]);
} finally {
  await probes?.stop();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await cluster.stop();
}
