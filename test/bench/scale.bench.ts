// Scale simulator (issue 17.2): N simulated speakers in a few worker processes (test/sim/scale-worker.ts),
// each running the real liveness protocol (SWIM over its own UDP socket on 127.0.0.1, HMAC-sealed),
// the real speaker Lease (real writes to a private kube-apiserver + etcd) and the real liveness gate,
// with the timing defaults of `herald speaker` (read from cli/speaker.ts). Per N it prints:
//   scale.<N>.lease_writes_per_s / .lease_writes_per_s_per_node   steady state, from SpeakerLease.writes
//   scale.<N>.apiserver_cpu_percent                               kube-apiserver CPU (/proc/PID/stat), same window
//   scale.<N>.liveness_bytes_per_s_per_node / _datagrams_per_s_per_node   UDP sent + received per member
//   scale.<N>.false_suspicions / .false_deaths / .quorum_losses    over the steady window (its length printed)
//   scale.<N>.detect_ms.median / .max      a killed member: kill -> first member declares it dead (10 kills)
//   scale.<N>.agree_ms.median / .max       kill -> every live member has declared it dead
//   scale.<N>.worker_lag_p99_ms / worker_lag_max_ms / worker_cpu_percent / worker_stalls   the simulator's
//                                          own load: when the event loops lag, the figures measure the machine
//   scale.<N>.stall_asks                   pings sent by the members' stall checks and rechecks (bounded per check)
//   scale.<N>.starved 0|1                  1: a member stalled or the lag p99 reached the probe time-out
//                                          (test/sim/scale-verdict.ts), or a worker stopped answering; kills skipped
// Env: HERALD_BENCH_SCALE_N (default "100,500,1000"), HERALD_BENCH_SCALE_WINDOW_S (steady window,
// default 30 s, at least 3 renew intervals), HERALD_BENCH_LONG=1 (600 s window at the largest N),
// HERALD_BENCH_SCALE_WORKERS (default: one per core, more so that none holds over 250 members), HERALD_BENCH_SCALE_KILLS (default 10),
// HERALD_BENCH_SCALE_UDP_MAX (real time: liveness over real UDP up to this N, Lease-only above; default 1000),
// HERALD_BENCH_SCALE_OLD (virtual time: how many members speak liveness wire version 1 only, as during a
// rolling upgrade; default 0), HERALD_BENCH_SCALE_WIRE (virtual time: the newest wire version the other
// members speak, 2 or 3; default the newest), HERALD_BENCH_SCALE_NAME_LEN (virtual time: node name length,
// `node-0042` padded like an FQDN; default 9), HERALD_BENCH_SCALE_TRAFFIC_NAMES (default "9,20,63": per
// wire version 2 and 3 and name length, liveness B/s per node from 100 members over 10 virtual s, since
// the traffic is flat in N; "" skips), HERALD_BENCH_SCALE_REAL=0 (skip the real-time part; the
// throttling part has its own knob, HERALD_BENCH_SCALE_THROTTLE_N=0), HERALD_BENCH_SCALE_VIRTUAL=0 (skip the
// virtual-time part), HERALD_BENCH_SCALE_TRACE=1 (each worker: a line a second on stderr), and
// HERALD_BENCH_SCALE_PROF=DIR (the workers' CPU profiles, --cpu-prof), HERALD_BENCH_SCALE_FREEZE=S:MS (each worker's loop held MS ms, S s after liveness started: does one stall of all its members start a storm?), HERALD_BENCH_SCALE_STALL_SAMPLE (the members' stallSample; over N: every member asked, the rule before session 12). The real-time part with UDP needs its
// workers' lag well under the 80 ms probe time-out: on a loaded host it reports STARVED instead.
// The Lease watch fan-out (test/sim/lease-fanout.ts; HERALD_BENCH_SCALE_FANOUT=0 skips it): per N and
// mode (periodic: membership Leases renewed every 10 s, as before the split; split: heartbeat Leases
// renewed, membership Leases written on changes only), scale.fanout.<mode>.<N>.events_per_watcher_per_s
// on real watches with the speakers' label selector (HERALD_BENCH_SCALE_FANOUT_WATCHERS, default 3),
// writes/s and kube-apiserver CPU (which includes only these watchers' share of the fan-out).
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg, cpus } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKubeConfig } from '../../kube/config.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { speakerTimingDefaults } from '../sim/speaker-defaults.js';
import type { FromWorker, SimTiming, ToWorker, WorkerExplain, WorkerSample } from '../sim/scale-protocol.js';
import { runVirtual, simNodeName } from '../sim/virtual-liveness.js';
import { starved } from '../sim/scale-verdict.js';
import { runLeaseFanout } from '../sim/lease-fanout.js';
import { VERSION, type WireVersion } from '../../protocols/liveness/message.js';

const SIZES = (process.env.HERALD_BENCH_SCALE_N ?? '100,500,1000').split(',').filter((x) => x.trim() !== '').map(Number);
const LONG = process.env.HERALD_BENCH_LONG === '1';
/**
 * Members per worker process at most (default workers). A member holds ~0.6 kB per peer: 500 members of
 * 1,000 made a 400 MB heap whose collections held the loop ~300 ms, every member of the worker stalled at
 * once and each asked all 1,000 peers (500,000 datagrams: a storm no real node, with one member, makes).
 * 250 a worker: ~170 MB, lag max ~50 ms (session 10).
 */
const MEMBERS_PER_WORKER = 250;
const WORKERS = Number(process.env.HERALD_BENCH_SCALE_WORKERS ?? Math.max(cpus().length, Math.ceil(Math.max(0, ...SIZES) / MEMBERS_PER_WORKER)));
const KILLS = Number(process.env.HERALD_BENCH_SCALE_KILLS ?? 10);
const WINDOW_S = Number(process.env.HERALD_BENCH_SCALE_WINDOW_S ?? 30);
/** Real-time members run the liveness protocol over real UDP up to this N; above it, Lease-only. */
const UDP_MAX = Number(process.env.HERALD_BENCH_SCALE_UDP_MAX ?? 1000);
const OLD = Number(process.env.HERALD_BENCH_SCALE_OLD ?? 0);
const WIRE = process.env.HERALD_BENCH_SCALE_WIRE === undefined ? undefined : (Number(process.env.HERALD_BENCH_SCALE_WIRE) as WireVersion);
const NAME_LEN = Number(process.env.HERALD_BENCH_SCALE_NAME_LEN ?? 9);
const TRAFFIC_NAMES = (process.env.HERALD_BENCH_SCALE_TRAFFIC_NAMES ?? '9,20,63').split(',').filter((x) => x.trim() !== '').map(Number);
const REAL = process.env.HERALD_BENCH_SCALE_REAL !== '0';
/** HERALD_BENCH_SCALE_VIRTUAL=0: skip the virtual-time part (and the traffic lines), real time only. */
const VIRTUAL = process.env.HERALD_BENCH_SCALE_VIRTUAL !== '0';
/** The throttling run (issue 17.4): N Lease-only members against an API server at low in-flight limits; 0: skipped. */
const THROTTLE_N = Number(process.env.HERALD_BENCH_SCALE_THROTTLE_N ?? 1000);
const THROTTLE_INFLIGHT = Number(process.env.HERALD_BENCH_SCALE_THROTTLE_INFLIGHT ?? 5);
const THROTTLE_WINDOW_S = Number(process.env.HERALD_BENCH_SCALE_THROTTLE_WINDOW_S ?? 120);
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

/** A worker did not answer in time: its event loop is that far behind (the host starved it). */
class WorkerTimeout extends Error {}

class Worker {
  readonly child: ChildProcess;
  private readonly waiters: Array<{ type: FromWorker['type']; resolve: (m: FromWorker) => void }> = [];
  readonly killedAt = new Map<string, number>();

  constructor(readonly names: string[]) {
    // Each worker is a process of its own (a core each), run by tsx as the bench itself is.
    const prof = process.env.HERALD_BENCH_SCALE_PROF;
    this.child = fork(WORKER, [], { execArgv: ['--import', 'tsx', '--expose-gc', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // A worker that died (killed, crashed): its requests time out or fail below, not the bench.
    this.child.on('error', () => undefined);
    this.child.on('message', (raw) => {
      const m = raw as FromWorker;
      if (m.type === 'killed') this.killedAt.set(m.name, m.at);
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
    });
  }

  request<T extends FromWorker['type']>(msg: ToWorker, reply: T, timeoutMs = 120_000): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new WorkerTimeout(`scale worker: no ${reply} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ type: reply, resolve: (m) => (clearTimeout(timer), resolve(m as Extract<FromWorker, { type: T }>)) });
      if (!this.child.connected) {
        clearTimeout(timer);
        reject(new WorkerTimeout(`scale worker: exited before ${reply}`));
        return;
      }
      this.child.send(msg);
    });
  }

  send(msg: ToWorker): void {
    if (this.child.connected) this.child.send(msg);
  }
}

interface Totals {
  leaseWrites: number;
  livenessBytes: number;
  livenessPackets: number;
  stalls: number;
  stallAsks: number;
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
  unhealthy: number;
  leaseFailuresBy: Record<string, number>;
  leaseFenced: WorkerSample['leaseFenced'];
}

async function sampleAll(workers: Worker[]): Promise<Totals> {
  const samples = await Promise.all(workers.map(async (w) => (await w.request({ type: 'sample' }, 'sample')).sample));
  const t: Totals = { leaseWrites: 0, livenessBytes: 0, livenessPackets: 0, stalls: 0, stallAsks: 0, falseSuspicions: 0, falseDeaths: 0, quorumLosses: 0, selfSuspected: 0, dropped: 0, leaseFailures: 0, fencedNow: 0, rejoins: 0, cpuSeconds: 0, lagP99: 0, lagMax: 0, verdicts: {}, deadViews: {}, unhealthy: 0, leaseFailuresBy: {}, leaseFenced: { episodes: 0, members: 0, totalMs: 0, maxMs: 0, now: 0 } };
  for (const s of samples) {
    for (const k of ['leaseWrites', 'livenessBytes', 'livenessPackets', 'stalls', 'stallAsks', 'falseSuspicions', 'falseDeaths', 'quorumLosses', 'selfSuspected', 'dropped', 'leaseFailures', 'fencedNow', 'rejoins', 'cpuSeconds'] as const) t[k] += s[k];
    t.unhealthy += s.unhealthy;
    for (const [c, k] of Object.entries(s.leaseFailuresBy)) t.leaseFailuresBy[c] = (t.leaseFailuresBy[c] ?? 0) + k;
    for (const k of ['episodes', 'members', 'totalMs', 'now'] as const) t.leaseFenced[k] += s.leaseFenced[k];
    t.leaseFenced.maxMs = Math.max(t.leaseFenced.maxMs, s.leaseFenced.maxMs);
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

async function runSize(cluster: TestCluster, apiserverPid: number, n: number, timing: SimTiming, windowS: number, run: { prefix: string; namespace: string; kubeconfig: string; udp: boolean; kills: number }): Promise<void> {
  const names = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(4, '0')}`);
  const workers = Array.from({ length: WORKERS }, (_, w) => new Worker(names.filter((_, i) => i % WORKERS === w)));
  const owner = new Map<string, Worker>();
  for (const w of workers) for (const name of w.names) owner.set(name, w);
  try {
    await measureSize(workers, owner, names, apiserverPid, n, timing, windowS, run);
  } catch (err) {
    if (!(err instanceof WorkerTimeout)) throw err;
    out(`${run.prefix}.starved`, 1, 0);
    note(`${run.prefix}: STARVED: ${err.message} (its event loop that far behind); load average ${load()}`);
  } finally {
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }, 'stopped', 60_000).catch(() => w.child.kill('SIGKILL'))));
  }
}

async function measureSize(workers: Worker[], owner: Map<string, Worker>, names: string[], apiserverPid: number, n: number, timing: SimTiming, windowS: number, run: { prefix: string; namespace: string; kubeconfig: string; udp: boolean; kills: number }): Promise<void> {
  const { namespace, udp } = run;
  const p = run.prefix;
  const secretHex = randomBytes(32).toString('hex');
  const replies = await Promise.all(workers.map((w) => w.request({ type: 'init', names: w.names, kubeconfig: run.kubeconfig, namespace, secretHex, timing, udp }, 'ports')));
  const ports = Object.assign({}, ...replies.map((r) => r.ports)) as Record<string, number>;
  await Promise.all(workers.map((w) => w.request({ type: 'peers', ports }, 'started')));
  // Every member started and renewed at least once, then its liveness (scale-worker.ts: after the
  // Leases, over 2 s), and its probing settled.
  await sleep(timing.renewMs + 2000 + 3000);

  // Steady state.
  const a = await sampleAll(workers);
  const windowFrom = wallNow();
  const cpuA = cpuSeconds(apiserverPid);
  const tA = performance.now();
  // A long window reports its progress every minute (the lag of each minute; counters so far).
  let lagP99 = 0;
  let lagMax = 0;
  for (let done = 0; done < windowS; ) {
    const step = Math.min(60, windowS - done);
    await sleep(step * 1000);
    done += step;
    if (done >= windowS) break;
    const m = await sampleAll(workers);
    lagP99 = Math.max(lagP99, m.lagP99);
    lagMax = Math.max(lagMax, m.lagMax);
    note(`${p}: ${done} of ${windowS} s of the window, ${m.falseSuspicions - a.falseSuspicions} false suspicions, ${m.falseDeaths - a.falseDeaths} false deaths, ${m.stalls - a.stalls} stalls (${m.stallAsks - a.stallAsks} stall asks), ${m.quorumLosses - a.quorumLosses} quorum losses so far; this minute's lag p99 ${m.lagP99.toFixed(0)} ms, max ${m.lagMax.toFixed(0)} ms; load average ${load()}`);
  }
  const b = await sampleAll(workers);
  lagP99 = Math.max(lagP99, b.lagP99);
  lagMax = Math.max(lagMax, b.lagMax);
  const secs = (performance.now() - tA) / 1000;
  const cpuB = cpuSeconds(apiserverPid);
  note(`${p}: N=${n} real-time members (${udp ? 'liveness over real UDP + Lease' : 'Lease only'}), ${WORKERS} worker processes, steady window ${secs.toFixed(1)} s, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  out(`${p}.lease_writes_per_s`, (b.leaseWrites - a.leaseWrites) / secs);
  out(`${p}.lease_writes_per_s_per_node`, (b.leaseWrites - a.leaseWrites) / secs / n, 3);
  out(`${p}.apiserver_cpu_percent`, ((cpuB - cpuA) / secs) * 100, 1);
  out(`${p}.liveness_bytes_per_s_per_node`, (b.livenessBytes - a.livenessBytes) / secs / n, 0);
  out(`${p}.liveness_datagrams_per_s_per_node`, (b.livenessPackets - a.livenessPackets) / secs / n, 1);
  out(`${p}.window_s`, secs, 0);
  out(`${p}.false_suspicions`, b.falseSuspicions - a.falseSuspicions, 0);
  if (b.falseSuspicions > a.falseSuspicions) await explainSuspicions(workers, owner, p, windowFrom, wallNow(), timing.probeTimeoutMs);
  out(`${p}.false_deaths`, b.falseDeaths - a.falseDeaths, 0);
  out(`${p}.self_suspected`, b.selfSuspected - a.selfSuspected, 0);
  out(`${p}.quorum_losses`, b.quorumLosses - a.quorumLosses, 0);
  out(`${p}.fenced_at_end`, b.fencedNow, 0);
  out(`${p}.new_lives_seen`, (b.rejoins - a.rejoins) / WORKERS, 0);
  out(`${p}.lease_failures`, b.leaseFailures - a.leaseFailures, 0);
  note(`${p}: Lease failures by cause since start: ${JSON.stringify(b.leaseFailuresBy)}; renewals turned unhealthy (Events paused) ${b.unhealthy}`);
  out(`${p}.lease_fenced_members`, b.leaseFenced.members, 0);
  out(`${p}.lease_fenced_episodes`, b.leaseFenced.episodes, 0);
  out(`${p}.lease_fenced_max_ms`, b.leaseFenced.maxMs, 0);
  out(`${p}.dropped_datagrams`, b.dropped - a.dropped, 0);
  out(`${p}.workers`, WORKERS, 0);
  out(`${p}.worker_cpu_percent`, ((b.cpuSeconds - a.cpuSeconds) / secs / WORKERS) * 100, 1);
  out(`${p}.worker_lag_p99_ms`, lagP99, 1);
  out(`${p}.worker_lag_max_ms`, lagMax, 1);
  out(`${p}.worker_stalls`, b.stalls - a.stalls, 0);
  // What the stall checks and rechecks cost (swim.ts: bounded per check, flat in N).
  out(`${p}.stall_asks`, b.stallAsks - a.stallAsks, 0);
  const hungry = udp && starved({ stalls: b.stalls - a.stalls, lagP99Ms: lagP99 }, timing.probeTimeoutMs);
  if (udp) out(`${p}.starved`, hungry ? 1 : 0, 0);
  if (hungry) {
    // Kills would time the host's backlog, not the protocol (scale-verdict.ts): said, not measured.
    note(`${p}: STARVED (stalls ${b.stalls - a.stalls}, lag p99 ${lagP99.toFixed(0)} ms vs the ${timing.probeTimeoutMs} ms probe time-out): the liveness figures above measure this host's load, kills skipped; load average ${load()}`);
    return;
  }

  // Kills: one member at a time crashes (stops answering and renewing); wait until every live
  // member has declared it dead (or 15 s), then a pause so the gossip settles before the next.
  const detect: number[] = [];
  const agree: number[] = [];
  let incomplete = 0;
  const killed: string[] = [];
  const stallsBefore = b.stalls;
  let killsLagMax = 0;
  let killsStalls = stallsBefore;
  for (let k = 0; k < run.kills && k < n - 2; k++) {
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
      killsLagMax = Math.max(killsLagMax, s.lagMax);
      killsStalls = s.stalls;
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
  if (run.kills === 0) return;
  out(`${p}.detect_ms.median`, percentile(detect, 0.5), 0);
  out(`${p}.detect_ms.max`, detect.length ? Math.max(...detect) : NaN, 0);
  out(`${p}.agree_ms.median`, percentile(agree, 0.5), 0);
  out(`${p}.agree_ms.max`, agree.length ? Math.max(...agree) : NaN, 0);
  out(`${p}.kills_not_agreed_in_15s`, incomplete, 0);
  out(`${p}.kills_worker_lag_max_ms`, killsLagMax, 1);
  out(`${p}.kills_worker_stalls`, killsStalls - stallsBefore, 0);
  note(`${p}: kills done, load average ${load()}`);
}

/**
 * Each false suspicion of the window with its likely cause: an event-loop lag of the probe time-out or
 * more, within the 2 s before it, in the suspect's worker (it answered late: every member there did)
 * or in the suspecter's (it read the answer late); else unexplained. Prints the first 20 and the counts.
 */
async function explainSuspicions(workers: Worker[], owner: Map<string, Worker>, p: string, from: number, to: number, probeTimeoutMs: number): Promise<void> {
  const explains = new Map<Worker, WorkerExplain>();
  await Promise.all(workers.map(async (w) => explains.set(w, (await w.request({ type: 'explain' }, 'explain')).explain)));
  const lagOf = (w: Worker | undefined, at: number): number => {
    const bySecond = new Map(explains.get(w as Worker)?.lagBySecond ?? []);
    let max = 0;
    for (let s = Math.floor((at - 2000) / 1000); s <= Math.floor(at / 1000); s++) max = Math.max(max, bySecond.get(s) ?? 0);
    return max;
  };
  const causes: Record<string, number> = {};
  let shown = 0;
  const all = [...explains.values()].flatMap((e) => e.suspicions).filter((s) => s.at >= from && s.at <= to).sort((x, y) => x.at - y.at);
  for (const s of all) {
    const suspectLag = lagOf(owner.get(s.of), s.at);
    const byLag = lagOf(owner.get(s.by), s.at);
    const cause = suspectLag >= probeTimeoutMs ? 'lag in the suspect\'s worker' : byLag >= probeTimeoutMs ? 'lag in the suspecter\'s worker' : 'unexplained';
    causes[cause] = (causes[cause] ?? 0) + 1;
    if (shown++ < 20) note(`${p}: false suspicion at +${((s.at - from) / 1000).toFixed(1)} s of the window: ${s.by} suspected ${s.of}; lag within the 2 s before: suspect's worker ${suspectLag.toFixed(0)} ms, suspecter's ${byLag.toFixed(0)} ms (probe time-out ${probeTimeoutMs}): ${cause}`);
  }
  note(`${p}: false suspicions by cause (${all.length} recorded of the window): ${JSON.stringify(causes)}`);
  out(`${p}.false_suspicions_unexplained`, causes.unexplained ?? 0, 0);
}

async function namespaceFor(cluster: TestCluster, name: string): Promise<void> {
  const { kubeConfig } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
  await kubeRequest(kubeConfig, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}

/**
 * A kubeconfig of a ServiceAccount allowed the speaker's Lease verbs in `namespace`: the admin is in
 * system:masters, which kube-apiserver's in-flight limit never throttles (nor APF's exempt level).
 */
async function speakerKubeconfig(cluster: TestCluster, namespace: string): Promise<string> {
  const { kubeConfig } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
  const post = (path: string, body: unknown): Promise<unknown> => kubeRequest(kubeConfig, 'POST', path, { body });
  await post(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'speaker' } });
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await post(`${rbac}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'speaker' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] }] });
  await post(`${rbac}/rolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'speaker' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'speaker' }, subjects: [{ kind: 'ServiceAccount', name: 'speaker', namespace }] });
  const tr = (await post(`/api/v1/namespaces/${namespace}/serviceaccounts/speaker/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 7200 } })) as { status?: { token?: string } };
  const token = tr.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  const text = readFileSync(cluster.kubeconfig, 'utf8');
  if (!text.includes(`token: ${cluster.token}`)) throw new Error('admin kubeconfig: token line not found');
  const path = join(cluster.dir, `speaker-${namespace}.kubeconfig`);
  writeFileSync(path, text.replace(`token: ${cluster.token}`, `token: ${token}`));
  return path;
}

function runVirtualSize(n: number, timing: SimTiming, windowS: number): void {
  const old = Math.min(OLD, n);
  const t0 = Date.now();
  const progress = (s: number, suspicions: number, deaths: number): void => note(`scale.${n}.virtual: ${s.toFixed(0)} of ${windowS} s of the window simulated, ${suspicions} false suspicions, ${deaths} false deaths so far (${((Date.now() - t0) / 1000).toFixed(0)} s wall, load average ${load()})`);
  const r = runVirtual({ n, timing, secret: randomBytes(32), windowS, kills: KILLS, old, wire: WIRE, nameLength: NAME_LEN, progress: windowS > 60 ? progress : undefined });
  const p = `scale.${n}.virtual`;
  note(`${p}: N=${n} members in virtual time (real SWIM, wire and HMAC; one-way latency 0.2-0.8 ms; ${old} of them on wire version 1, the rest version ${WIRE ?? VERSION}; node names of ${NAME_LEN} characters, e.g. ${simNodeName(n - 1, NAME_LEN)}), ${r.virtualS.toFixed(0)} s simulated in ${r.cpuS.toFixed(1)} s CPU (${((Date.now() - t0) / 1000).toFixed(0)} s wall), load average ${load()}`);
  out(`${p}.liveness_bytes_per_s_per_node`, r.bytesPerSecPerNode, 0);
  out(`${p}.liveness_datagrams_per_s_per_node`, r.datagramsPerSecPerNode, 1);
  out(`${p}.window_s`, r.windowS, 0);
  out(`${p}.false_suspicions`, r.falseSuspicions, 0);
  out(`${p}.false_deaths`, r.falseDeaths, 0);
  out(`${p}.quorum_losses`, r.quorumLosses, 0);
  out(`${p}.wire_drops`, r.wireDrops, 0);
  out(`${p}.detect_ms.median`, percentile(r.detectMs, 0.5), 0);
  out(`${p}.detect_ms.max`, r.detectMs.length ? Math.max(...r.detectMs) : NaN, 0);
  out(`${p}.agree_ms.median`, percentile(r.agreeMs, 0.5), 0);
  out(`${p}.agree_ms.max`, r.agreeMs.length ? Math.max(...r.agreeMs) : NaN, 0);
  out(`${p}.kills_not_agreed_in_15s`, r.notAgreed, 0);
}

const timing = speakerTimingDefaults();
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
note(`${new Date().toISOString()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load average ${load()}`);
note(`herald speaker defaults with liveness: lease renew ${timing.renewMs} ms (${timing.fastRenewMs} ms without quorum), duration ${timing.leaseDurationMs} ms; liveness period ${timing.periodMs} ms, probe timeout ${timing.probeTimeoutMs} ms, suspicion ${timing.suspicionMs} ms`);
// Liveness traffic against the node names' length, per wire version (flat in N: 100 members suffice).
for (const length of VIRTUAL ? TRAFFIC_NAMES : []) {
  for (const wire of [2, 3] as const) {
    const r = runVirtual({ n: 100, timing, secret: randomBytes(32), windowS: 10, kills: 0, wire, nameLength: length });
    out(`scale.traffic.wire${wire}.name${length}.liveness_bytes_per_s_per_node`, r.bytesPerSecPerNode, 0);
  }
}
// Liveness in virtual time first: no API server, the same code.
if (VIRTUAL) for (const n of SIZES) runVirtualSize(n, timing, LONG && n === Math.max(...SIZES) ? 600 : WINDOW_S);

if (REAL) {
  const cluster = await TestCluster.start({ log: () => undefined });
  try {
    const apiserverPid = cluster.state().apiserverPid;
    for (const n of SIZES) {
      const windowS = LONG && n === Math.max(...SIZES) ? 600 : Math.max(WINDOW_S, (3 * timing.renewMs) / 1000);
      const namespace = `scale-${n}`;
      await namespaceFor(cluster, namespace);
      const udp = n <= UDP_MAX;
      await runSize(cluster, apiserverPid, n, timing, windowS, { prefix: `scale.${n}`, namespace, kubeconfig: cluster.kubeconfig, udp, kills: udp ? KILLS : 0 });
      // The API server's watch fan-out: every speaker watches every membership Lease.
      note(`scale.${n}: the members write their Leases as speakers with liveness do since the Lease split (a heartbeat Lease renewed every ${timing.renewMs} ms, the watched membership Lease on changes and every ${timing.fastRenewMs} ms without quorum): a watch per speaker gets the membership changes only, 0 events/s at steady state (scale.fanout; before the split N x writes/s = ${((n * n * 1000) / timing.renewMs).toFixed(0)} events/s; here one watch per worker process, ${WORKERS})`);
    }
  } finally {
    await cluster.stop();
  }
} else {
  note('scale: real-time part skipped (HERALD_BENCH_SCALE_REAL=0)');
}

// Issue 17.4: the API server at low in-flight limits (the classic max-inflight filter: APF off, so
// that the flags alone bound it; its 429s carry Retry-After: 1), N members renewing as a
// ServiceAccount. How many fence, how long, and why.
if (THROTTLE_N > 0) {
  const limit = THROTTLE_INFLIGHT;
  const throttled = await TestCluster.start({ log: () => undefined, extraApiserverArgs: ['--enable-priority-and-fairness=false', `--max-requests-inflight=${limit}`, `--max-mutating-requests-inflight=${limit}`] });
  try {
    const namespace = `throttle-${THROTTLE_N}`;
    await namespaceFor(throttled, namespace);
    const kubeconfig = await speakerKubeconfig(throttled, namespace);
    note(`scale.throttle: kube-apiserver --max-requests-inflight=${limit} --max-mutating-requests-inflight=${limit} (APF off), ${THROTTLE_N} Lease-only members as a ServiceAccount, load average ${load()}`);
    await runSize(throttled, throttled.state().apiserverPid, THROTTLE_N, timing, Math.max(THROTTLE_WINDOW_S, (3 * timing.leaseDurationMs) / 1000), { prefix: `scale.throttle.${THROTTLE_N}`, namespace, kubeconfig, udp: false, kills: 0 });
  } finally {
    await throttled.stop();
  }
}

// The Lease watch fan-out, measured: what each speaker's Lease watch receives, before and after the split.
if (process.env.HERALD_BENCH_SCALE_FANOUT !== '0') {
  const cluster = await TestCluster.start({ log: () => undefined });
  try {
    const { kubeConfig } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
    const pid = cluster.state().apiserverPid;
    for (const n of SIZES) {
      for (const mode of ['periodic', 'split'] as const) {
        const namespace = `fanout-${mode}-${n}`;
        await namespaceFor(cluster, namespace);
        const windowS = Math.max(20, (2 * timing.renewMs) / 1000);
        const watchers = Number(process.env.HERALD_BENCH_SCALE_FANOUT_WATCHERS ?? 3);
        const r = await runLeaseFanout({ kubeConfig, namespace, n, mode, renewMs: timing.renewMs, leaseDurationMs: timing.leaseDurationMs, windowS, watchers, cpuSeconds: () => cpuSeconds(pid) });
        const p = `scale.fanout.${mode}.${n}`;
        note(`${p}: ${n} speakers' Leases (${mode}), ${watchers} watches with the speakers' label selector, ${r.windowS.toFixed(0)} s window, load average ${load()}`);
        out(`${p}.events_per_watcher_per_s`, r.eventsPerWatcherPerS, 3);
        out(`${p}.events_per_s_all_watchers`, r.fanoutPerS, 1);
        out(`${p}.lease_writes_per_s_per_node`, r.writesPerS / n, 3);
        out(`${p}.apiserver_cpu_percent`, r.apiserverCpuPercent, 1);
      }
    }
  } finally {
    await cluster.stop();
  }
}
