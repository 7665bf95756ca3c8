// Scale simulator (issue 17.2): N simulated speakers in a few worker processes (test/sim/scale-worker.ts),
// each running the real liveness protocol (SWIM over its own UDP socket on 127.0.0.1, HMAC-sealed),
// the real speaker Lease (real writes to a private kube-apiserver + etcd) and the real liveness gate,
// with the timing defaults of `herald speaker` (read from cli/speaker.ts). Per N it prints:
//   scale.<N>.lease_writes_per_s / .lease_writes_per_s_per_node   steady state, from SpeakerLease.writes
//   scale.<N>.apiserver_cpu_percent                               kube-apiserver CPU (/proc/PID/stat), same window
//   scale.<N>.liveness_bytes_per_s_per_node                        UDP payload sent + received per member
//   scale.<N>.false_suspicions / .false_deaths / .quorum_losses    over the steady window (its length printed)
//   scale.<N>.detect_ms.median / .max      a killed member: kill -> first member declares it dead (10 kills)
//   scale.<N>.agree_ms.median / .max       kill -> every live member has declared it dead
//   scale.<N>.worker_lag_p99_ms / worker_lag_max_ms / worker_cpu_percent   the simulator's own load: when the
//                                          event loops lag, the figures measure the machine, not the protocol
// Env: HERALD_BENCH_SCALE_N (default "100,500,1000"), HERALD_BENCH_SCALE_WINDOW_S (steady window,
// default 30 s, at least 3 renew intervals), HERALD_BENCH_LONG=1 (600 s window at the largest N),
// HERALD_BENCH_SCALE_WORKERS (default 2: one per core), HERALD_BENCH_SCALE_KILLS (default 10).
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg, cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadKubeConfig } from '../../kube/config.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { speakerTimingDefaults } from '../sim/speaker-defaults.js';
import type { FromWorker, SimTiming, ToWorker, WorkerSample } from '../sim/scale-protocol.js';

const SIZES = (process.env.HERALD_BENCH_SCALE_N ?? '100,500,1000').split(',').map(Number);
const LONG = process.env.HERALD_BENCH_LONG === '1';
const WORKERS = Number(process.env.HERALD_BENCH_SCALE_WORKERS ?? 2);
const KILLS = Number(process.env.HERALD_BENCH_SCALE_KILLS ?? 10);
const WINDOW_S = Number(process.env.HERALD_BENCH_SCALE_WINDOW_S ?? 30);
const WORKER = fileURLToPath(new URL('../sim/scale-worker.ts', import.meta.url));

const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const note = (text: string): void => void process.stdout.write(`# ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const wallNow = (): number => performance.timeOrigin + performance.now();

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor(s.length * p))] as number);
}

class Worker {
  readonly child: ChildProcess;
  private readonly waiters: Array<{ type: FromWorker['type']; resolve: (m: FromWorker) => void }> = [];
  readonly killedAt = new Map<string, number>();

  constructor(readonly names: string[]) {
    // Each worker is a process of its own (a core each), run by tsx as the bench itself is.
    this.child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (raw) => {
      const m = raw as FromWorker;
      if (m.type === 'killed') this.killedAt.set(m.name, m.at);
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    });
  }

  request<T extends FromWorker['type']>(msg: ToWorker, reply: T, timeoutMs = 120_000): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`scale worker: no ${reply} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ type: reply, resolve: (m) => (clearTimeout(timer), resolve(m as Extract<FromWorker, { type: T }>)) });
      this.child.send(msg);
    });
  }

  send(msg: ToWorker): void {
    this.child.send(msg);
  }
}

interface Totals {
  leaseWrites: number;
  livenessBytes: number;
  falseSuspicions: number;
  falseDeaths: number;
  quorumLosses: number;
  selfSuspected: number;
  dropped: number;
  leaseFailures: number;
  fencedNow: number;
  rejoins: number;
  cpuSeconds: number;
  lagP99: number;
  lagMax: number;
  verdicts: WorkerSample['verdicts'];
  deadViews: Record<string, number>;
}

async function sampleAll(workers: Worker[]): Promise<Totals> {
  const samples = await Promise.all(workers.map(async (w) => (await w.request({ type: 'sample' }, 'sample')).sample));
  const t: Totals = { leaseWrites: 0, livenessBytes: 0, falseSuspicions: 0, falseDeaths: 0, quorumLosses: 0, selfSuspected: 0, dropped: 0, leaseFailures: 0, fencedNow: 0, rejoins: 0, cpuSeconds: 0, lagP99: 0, lagMax: 0, verdicts: {}, deadViews: {} };
  for (const s of samples) {
    for (const k of ['leaseWrites', 'livenessBytes', 'falseSuspicions', 'falseDeaths', 'quorumLosses', 'selfSuspected', 'dropped', 'leaseFailures', 'fencedNow', 'rejoins', 'cpuSeconds'] as const) t[k] += s[k];
    t.lagP99 = Math.max(t.lagP99, s.lag.p99);
    t.lagMax = Math.max(t.lagMax, s.lag.max);
    for (const [name, c] of Object.entries(s.deadViews)) t.deadViews[name] = (t.deadViews[name] ?? 0) + c;
    for (const [name, v] of Object.entries(s.verdicts)) {
      const e = (t.verdicts[name] ??= { count: 0, first: Infinity, last: 0 });
      e.count += v.count;
      e.first = Math.min(e.first, v.first);
      e.last = Math.max(e.last, v.last);
    }
  }
  return t;
}

async function runSize(cluster: TestCluster, apiserverPid: number, n: number, timing: SimTiming, windowS: number): Promise<void> {
  const namespace = `scale-${n}`;
  const { kubeConfig } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
  await kubeRequest(kubeConfig, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const names = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(4, '0')}`);
  const workers = Array.from({ length: WORKERS }, (_, w) => new Worker(names.filter((_, i) => i % WORKERS === w)));
  const owner = new Map<string, Worker>();
  for (const w of workers) for (const name of w.names) owner.set(name, w);
  try {
    const secretHex = randomBytes(32).toString('hex');
    const replies = await Promise.all(workers.map((w) => w.request({ type: 'init', names: w.names, kubeconfig: cluster.kubeconfig, namespace, secretHex, timing }, 'ports')));
    const ports = Object.assign({}, ...replies.map((r) => r.ports)) as Record<string, number>;
    await Promise.all(workers.map((w) => w.request({ type: 'peers', ports }, 'started')));
    // Every member started and renewed at least once, and its probing settled.
    await sleep(Math.max(timing.renewMs + 3000, 5000));

    // Steady state.
    const a = await sampleAll(workers);
    const cpuA = cpuSeconds(apiserverPid);
    const tA = performance.now();
    await sleep(windowS * 1000);
    const b = await sampleAll(workers);
    const secs = (performance.now() - tA) / 1000;
    const cpuB = cpuSeconds(apiserverPid);
    note(`N=${n}: ${WORKERS} worker processes, steady window ${secs.toFixed(1)} s, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    out(`scale.${n}.lease_writes_per_s`, (b.leaseWrites - a.leaseWrites) / secs);
    out(`scale.${n}.lease_writes_per_s_per_node`, (b.leaseWrites - a.leaseWrites) / secs / n, 3);
    out(`scale.${n}.apiserver_cpu_percent`, ((cpuB - cpuA) / secs) * 100, 1);
    out(`scale.${n}.liveness_bytes_per_s_per_node`, (b.livenessBytes - a.livenessBytes) / secs / n, 0);
    out(`scale.${n}.window_s`, secs, 0);
    out(`scale.${n}.false_suspicions`, b.falseSuspicions - a.falseSuspicions, 0);
    out(`scale.${n}.false_deaths`, b.falseDeaths - a.falseDeaths, 0);
    out(`scale.${n}.self_suspected`, b.selfSuspected - a.selfSuspected, 0);
    out(`scale.${n}.quorum_losses`, b.quorumLosses - a.quorumLosses, 0);
    out(`scale.${n}.fenced_at_end`, b.fencedNow, 0);
    out(`scale.${n}.new_lives_seen`, (b.rejoins - a.rejoins) / WORKERS, 0);
    out(`scale.${n}.lease_failures`, b.leaseFailures - a.leaseFailures, 0);
    out(`scale.${n}.dropped_datagrams`, b.dropped - a.dropped, 0);
    out(`scale.${n}.worker_cpu_percent`, ((b.cpuSeconds - a.cpuSeconds) / secs / WORKERS) * 100, 1);
    out(`scale.${n}.worker_lag_p99_ms`, b.lagP99, 1);
    out(`scale.${n}.worker_lag_max_ms`, b.lagMax, 1);

    // Kills: one member at a time crashes (stops answering and renewing); wait until every live
    // member has declared it dead (or 15 s), then a pause so the gossip settles before the next.
    const detect: number[] = [];
    const agree: number[] = [];
    let incomplete = 0;
    const killed: string[] = [];
    let lagMax = 0;
    for (let k = 0; k < KILLS && k < n - 2; k++) {
      let victim: string;
      do victim = names[Math.floor(Math.random() * n)] as string;
      while (killed.includes(victim));
      killed.push(victim);
      const w = owner.get(victim) as Worker;
      for (const x of workers) x.send({ type: 'kill', name: victim });
      const deadline = wallNow() + 15_000;
      let s: Totals;
      for (;;) {
        await sleep(200);
        s = await sampleAll(workers);
        lagMax = Math.max(lagMax, s.lagMax);
        const v = s.verdicts[victim];
        if ((v && (s.deadViews[victim] ?? 0) >= n - killed.length) || wallNow() > deadline) break;
      }
      const at = w.killedAt.get(victim) as number;
      const v = s.verdicts[victim];
      if (v && v.first < at) note(`${victim} was declared dead before it was killed (a false verdict)`);
      if (v) detect.push(v.first - at);
      if (v && (s.deadViews[victim] ?? 0) >= n - killed.length) agree.push(v.last - at);
      else incomplete++;
      await sleep(1000);
    }
    out(`scale.${n}.detect_ms.median`, percentile(detect, 0.5), 0);
    out(`scale.${n}.detect_ms.max`, detect.length ? Math.max(...detect) : NaN, 0);
    out(`scale.${n}.agree_ms.median`, percentile(agree, 0.5), 0);
    out(`scale.${n}.agree_ms.max`, agree.length ? Math.max(...agree) : NaN, 0);
    out(`scale.${n}.kills_not_agreed_in_15s`, incomplete, 0);
    out(`scale.${n}.kills_worker_lag_max_ms`, lagMax, 1);
  } finally {
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }, 'stopped', 60_000).catch(() => w.child.kill('SIGKILL'))));
  }
}

const timing = speakerTimingDefaults();
note(`${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
note(`herald speaker defaults: lease renew ${timing.renewMs} ms, duration ${timing.leaseDurationMs} ms; liveness period ${timing.periodMs} ms, probe timeout ${timing.probeTimeoutMs} ms, suspicion ${timing.suspicionMs} ms`);
const cluster = await TestCluster.start({ log: () => undefined });
try {
  const apiserverPid = cluster.state().apiserverPid;
  for (const n of SIZES) {
    const windowS = Math.max(LONG && n === Math.max(...SIZES) ? 600 : WINDOW_S, (3 * timing.renewMs) / 1000);
    await runSize(cluster, apiserverPid, n, timing, windowS);
  }
} finally {
  await cluster.stop();
}
