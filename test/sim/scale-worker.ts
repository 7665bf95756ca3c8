// One worker process of the scale simulator: many simulated speakers, each with the real liveness
// code (protocols/liveness: Swim + LivenessTransport on its own UDP socket on 127.0.0.1, HMAC-sealed
// datagrams), the real speaker Lease (speaker/speaker-lease.ts: real writes to the test
// kube-apiserver) and the real liveness gate (speaker/liveness-gate.ts), wired as speaker/speaker.ts
// wires them. What is not simulated: Services, announcements, and one Lease watch per speaker: the
// simulator hands every member the member list and the peers' ports once, and one Lease watch per
// worker stands for its members' watches (a Lease that shows a new life, as a member declared dead
// starts one, revives it in every local member's view, as speaker.ts does with `rejoined`; every
// Lease change is passed to the liveness gates).
// Driven by the simulator over the IPC channel (scale-protocol.ts).
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { KubeAccess } from '../../kube/access.js';
import { loadKubeConfig } from '../../kube/config.js';
import { leaseInformer } from '../../kube/informers.js';
import type { Informer } from '../../kube/informer.js';
import { systemClock, type Clock } from '../../protocols/clock.js';
import { Swim } from '../../protocols/liveness/swim.js';
import { LivenessTransport } from '../../protocols/liveness/transport.js';
import { LivenessGate } from '../../speaker/liveness-gate.js';
import { SPEAKER_LEASE_LABEL, SPEAKER_LEASE_LABEL_VALUE, SpeakerLease } from '../../speaker/speaker-lease.js';
import { Fencing } from '../../speaker/fencing.js';
import { KubeApiError } from '../../kube/request.js';
import type { V1Lease } from '@kubernetes/client-node';
import { wallNow, type FalseSuspicion, type FromWorker, type ToWorker, type WorkerSample } from './scale-protocol.js';

interface SimMember {
  name: string;
  swim: Swim;
  /** Its Swim's clock: the first probe period after start() delayed by a random phase (phasedClock). */
  phase: PhasedClock;
  transport: LivenessTransport;
  /** The membership Lease: written at start and on changes (a new life), and every fastRenewMs without quorum. */
  lease: SpeakerLease;
  /** The heartbeat Lease `herald-heartbeat-<node>`: renewed every renewMs; what the fencing follows. */
  heartbeat: SpeakerLease;
  /** A heartbeat renewal failed since the last success: the membership Lease is written once on the next (as speaker.ts). */
  heartbeatFailed: boolean;
  gate: LivenessGate;
  fencing: Fencing;
  /** Since when the Lease fenced this member (wall ms), while it is. */
  leaseFencedSince?: number;
  port: number;
  alive: boolean;
  startTimer?: NodeJS.Timeout;
  swimTimer?: NodeJS.Timeout;
  /** Set at a simulated crash: every request of this member fails before it is sent. */
  crashed: boolean;
}

const send = (m: FromWorker): void => void process.send?.(m);
/** HERALD_BENCH_SCALE_STALL_SAMPLE: the members' stallSample (swim.ts; default its own, 16; a value over N asks every member, the rule before session 12). */
const STALL_SAMPLE = process.env.HERALD_BENCH_SCALE_STALL_SAMPLE ? { stallSample: Number(process.env.HERALD_BENCH_SCALE_STALL_SAMPLE) } : {};
const members = new Map<string, SimMember>();
const killed = new Set<string>();
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const totals = { dropped: 0, falseSuspicions: 0, falseDeaths: 0, selfSuspected: 0, quorumLosses: 0, leaseFailures: 0, unhealthy: 0 };
const leaseFailuresBy: Record<string, number> = {};
const leaseFenced = { episodes: 0, members: 0, totalMs: 0, maxMs: 0 };
const everLeaseFenced = new Set<string>();
/** False suspicions as they happened (the first 1,000), to explain them (lag per second below). */
const falseSuspicions: FalseSuspicion[] = [];
/**
 * The worker's event-loop lag per wall second (the largest lateness of a 20 ms timer in it), kept 20
 * minutes: a false suspicion is explained by a lag over the probe time-out in the suspect's worker (it
 * answered late) or in the suspecter's (it read the answer late) just before it.
 */
const lagBySecond = new Map<number, number>();
{
  const TICK_MS = 20;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - last - TICK_MS);
    last = now;
    // The lateness belongs to every second it covers.
    const end = wallNow();
    const sec = Math.floor(end / 1000);
    for (let s = Math.floor((end - late) / 1000); s <= sec; s++) lagBySecond.set(s, Math.max(lagBySecond.get(s) ?? 0, late));
    if (lagBySecond.size > 1300) for (const k of lagBySecond.keys()) if (k < sec - 1200) lagBySecond.delete(k);
  }, TICK_MS).unref();
}

function failureCause(err: unknown): string {
  if (err instanceof KubeApiError) return err.status ? String(err.status) : (err.code ?? 'transport');
  return 'other';
}
const verdicts: WorkerSample['verdicts'] = {};
let renewMs = 1000;
let udp = true;
let access: KubeAccess | undefined;
let namespace = '';
let leases: Informer<V1Lease> | undefined;
/** acquireTime per node, as the watch last showed it. */
const lives = new Map<string, string>();
let rejoins = 0;

function leaseSeen(lease: V1Lease): void {
  const node = lease.spec?.holderIdentity;
  const life = String(lease.spec?.acquireTime ?? '');
  if (!node) return;
  const before = lives.get(node);
  lives.set(node, life);
  const joinedAt = Date.parse(life);
  const newLife = before !== undefined && before !== life;
  if (newLife) rejoins++;
  // Each local member handles the event as speaker.ts does, O(1) each (Swim.rejoin: until session 11 a
  // new life re-set every member's whole list, O(N) each, and was spread over turns to keep the loop free).
  for (const m of members.values()) {
    if (!m.alive || m.name === node) continue;
    m.gate.leaseChanged(node, joinedAt);
    // A new life: the old verdict does not apply to the new process (speaker.ts: rejoin); joining until heard.
    if (newLife) m.swim.rejoin(node);
  }
}

async function init(msg: Extract<ToWorker, { type: 'init' }>): Promise<void> {
  const { kubeConfig } = loadKubeConfig({ kubeconfig: msg.kubeconfig });
  access = kubeConfig;
  namespace = msg.namespace;
  const secret = Buffer.from(msg.secretHex, 'hex');
  const t = msg.timing;
  renewMs = t.renewMs;
  udp = msg.udp;
  const ports: Record<string, number> = {};
  for (const name of msg.names) {
    // The transport, the state machine and the Lease refer to each other: built in turn, then joined.
    const ref: { swim?: Swim; member?: SimMember } = {};
    const transport = new LivenessTransport({
      secret,
      self: name,
      address: '127.0.0.1',
      port: 0,
      onMessage: (m) => ref.swim?.receive(m),
      onDrop: () => void totals.dropped++,
    });
    // Lease-only members (udp off): the state machine is built but never started, no socket bound.
    const port = msg.udp ? await transport.start() : 0;
    ports[name] = port;
    const gate = new LivenessGate(systemClock, name);
    const fencing = new Fencing({ clock: systemClock, leaseDurationMs: t.leaseDurationMs });
    const phase = phasedClock();
    const swim = new Swim({ clock: phase, self: name, periodMs: t.periodMs, probeTimeoutMs: t.probeTimeoutMs, suspicionMs: t.suspicionMs, indirect: 2, ...STALL_SAMPLE, send: (to, m) => transport.send(to, m) });
    // One client per member, as each speaker has its own (and its own keep-alive connection).
    const access: KubeAccess = {
      getCurrentCluster: () => kubeConfig.getCurrentCluster(),
      applyToHTTPSOptions: (o) => (ref.member?.crashed ? Promise.reject(new Error('simulated crash')) : kubeConfig.applyToHTTPSOptions(o)),
    };
    // The Lease split, as speaker.ts wires it with liveness on (README: Scale, the Lease split): the
    // membership Lease (labelled, watched) written on changes only and fast without quorum, and the
    // heartbeat Lease (watched by nobody) renewed every renewMs, which the fencing follows.
    const leaseFailed = (err: unknown): void => {
      totals.leaseFailures++;
      fencing.renewFailed(err);
      const cause = failureCause(err);
      leaseFailuresBy[cause] = (leaseFailuresBy[cause] ?? 0) + 1;
    };
    const lease = new SpeakerLease({
      kubeConfig: access,
      namespace: msg.namespace,
      node: name,
      clock: systemClock,
      renewMs: t.renewMs,
      fastRenewMs: t.fastRenewMs,
      leaseDurationMs: t.leaseDurationMs,
      livenessAddress: `127.0.0.1:${port}`,
      livenessWire: transport.advertises,
      advertiseHeartbeat: true,
      periodic: false,
      // As speaker.ts wires it: the renewal feeds the Lease fencing and may vouch for the member.
      onRenewed: (sentAt) => {
        fencing.renewSucceeded(sentAt);
        if (gate.vouches(sentAt)) swim.recheck();
        gate.renewed(sentAt);
      },
      onFailed: leaseFailed,
    });
    const heartbeat = new SpeakerLease({
      kubeConfig: access,
      namespace: msg.namespace,
      node: name,
      clock: systemClock,
      heartbeat: true,
      renewMs: t.renewMs,
      leaseDurationMs: t.leaseDurationMs,
      // Every member runs this code (no older peer that expires silent Leases): the heartbeat keeps it unfenced.
      onRenewed: (sentAt) => {
        fencing.renewSucceeded(sentAt);
        if (member.heartbeatFailed) lease.touch();
        member.heartbeatFailed = false;
      },
      onHealth: (healthy) => void (healthy || totals.unhealthy++),
      onFailed: (err) => {
        member.heartbeatFailed = true;
        leaseFailed(err);
      },
    });
    const member: SimMember = { name, swim, phase, transport, lease, heartbeat, heartbeatFailed: false, gate, fencing, port, alive: true, crashed: false };
    fencing.onChange((st) => {
      if (!member.alive) return;
      if (st.kind === 'fenced' && st.reason === 'renewOverdue') {
        member.leaseFencedSince = wallNow();
        leaseFenced.episodes++;
        if (!everLeaseFenced.has(name)) leaseFenced.members++;
        everLeaseFenced.add(name);
      } else if (st.kind === 'active' && member.leaseFencedSince !== undefined) {
        const ms = wallNow() - member.leaseFencedSince;
        member.leaseFencedSince = undefined;
        leaseFenced.totalMs += ms;
        leaseFenced.maxMs = Math.max(leaseFenced.maxMs, ms);
      }
    });
    gate.setStallCheck(() => {
      swim.awake();
      return swim.stalled;
    });
    ref.swim = swim;
    ref.member = member;
    swim.onChange((c) => {
      if (!member.alive) return;
      if (c.name === name) {
        totals.selfSuspected++;
        if (c.state === 'dead') lease.newLife();
        return;
      }
      if (killed.has(c.name)) {
        if (c.state !== 'dead') return;
        const v = (verdicts[c.name] ??= { count: 0, first: Infinity, last: 0 });
        const now = wallNow();
        v.count++;
        v.first = Math.min(v.first, now);
        v.last = Math.max(v.last, now);
        gate.declaredDead(c.name, undefined);
        return;
      }
      if (c.state === 'suspect') {
        totals.falseSuspicions++;
        if (falseSuspicions.length < 1000) falseSuspicions.push({ at: wallNow(), by: name, of: c.name });
      }
      if (c.state === 'dead') {
        totals.falseDeaths++;
        gate.declaredDead(c.name, undefined);
      }
    });
    swim.onQuorumChange((q) => {
      if (!q) totals.quorumLosses++;
      gate.quorumChanged(q);
      lease.setFast(!q);
    });
    members.set(name, member);
  }
  send({ type: 'ports', ports });
}

/** After the Leases' first renewals (spread over renewMs): when every member's Swim starts. */
const SWIM_START_MS = 1000;
/** The members' first probe periods spread over this (a real cluster's speakers probe out of phase). */
const SWIM_PHASE_SPREAD_MS = 2000;

interface PhasedClock extends Clock {
  /** The next timer set is delayed by `ms` more (Swim.start() sets its period timer first). */
  delayNext(ms: number): void;
}

/**
 * The system clock, except for one timer after delayNext(): every member's Swim starts (and answers)
 * at once, while its first probe period, the first timer start() sets, comes at a random phase.
 * Started at spread times instead, members not started yet answer nothing (as a speaker before its
 * first renewal) while their peers, knowing them from the start, already probe them: the late ones
 * were declared dead and their new lives fed a storm (session 10, N = 500 starved); started at once
 * and in phase, 500 members a worker probe in the same turn (N = 1,000 starved).
 */
function phasedClock(): PhasedClock {
  let extra = 0;
  return {
    now: () => systemClock.now(),
    clearTimeout: (h) => systemClock.clearTimeout(h),
    setTimeout: (fn, ms) => {
      const delay = ms + extra;
      extra = 0;
      return systemClock.setTimeout(fn, delay);
    },
    afterIo: systemClock.afterIo,
    delayNext: (ms) => {
      extra = ms;
    },
  };
}

function start(ports: Record<string, number>, renewMs: number, kubeConfig: KubeAccess, namespace: string): void {
  const all = Object.keys(ports);
  leases = leaseInformer(kubeConfig, namespace, { labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}` });
  leases.on('add', leaseSeen).on('update', leaseSeen).on('error', () => undefined);
  void leases.start().catch(() => undefined);
  // Every member learns its peers first (O(N) each, O(N²) for the worker: seconds at N = 1,000), and
  // only then do the members start: a member started before this loop ended would see it as a stall.
  for (const m of members.values()) {
    if (udp) for (const [peer, port] of Object.entries(ports)) if (peer !== m.name) m.transport.setPeer(peer, '127.0.0.1', port, m.transport.advertises); // every member runs this code
    m.swim.setMembers(all);
  }
  // The members' state (O(N²): ~0.6 kB per member and peer) is old from now on: collected once here,
  // not by a full GC in the middle of the measurement.
  (globalThis as { gc?: () => void }).gc?.();
  for (const m of members.values()) {
    // Speakers start at unrelated times: spread the first renewals over one interval. Their liveness
    // starts once every Lease has (each member's first request opens its own TLS connection: 500
    // handshakes in one process, lag that a real node's one handshake does not cause), every member's
    // at once, their first probe periods spread (phasedClock). The figures are taken after both.
    m.startTimer = setTimeout(() => {
      if (!m.alive) return;
      m.lease.start();
      m.heartbeat.start();
    }, Math.random() * renewMs);
  }
  if (udp) {
    const swimTimer = setTimeout(() => {
      for (const m of members.values()) {
        if (!m.alive) continue;
        m.phase.delayNext(Math.random() * SWIM_PHASE_SPREAD_MS);
        m.swim.start();
      }
    }, renewMs + SWIM_START_MS);
    for (const m of members.values()) m.swimTimer = swimTimer;
    injectFreeze(renewMs + SWIM_START_MS + SWIM_PHASE_SPREAD_MS);
  }
  send({ type: 'started' });
}

function sample(): WorkerSample {
  let leaseWrites = 0;
  let livenessBytes = 0;
  let livenessPackets = 0;
  let stalls = 0;
  let stallAsks = 0;
  let fencedNow = 0;
  let leaseFencedNow = 0;
  let openMs = 0;
  const now = wallNow();
  for (const m of members.values()) {
    if (m.alive && m.leaseFencedSince !== undefined) {
      leaseFencedNow++;
      openMs = Math.max(openMs, now - m.leaseFencedSince);
    }
    leaseWrites += m.lease.writes + m.heartbeat.writes;
    livenessBytes += m.transport.traffic.sentBytes + m.transport.traffic.receivedBytes;
    livenessPackets += m.transport.traffic.sentPackets + m.transport.traffic.receivedPackets;
    stalls += m.swim.counts.stalls;
    stallAsks += m.swim.counts.stallAsks;
    if (m.alive && m.gate.isFenced()) fencedNow++;
  }
  const ms = (ns: number): number => ns / 1e6;
  const s: WorkerSample = {
    leaseWrites,
    livenessBytes,
    livenessPackets,
    stalls,
    stallAsks,
    fencedNow,
    rejoins,
    ...totals,
    leaseFailuresBy: { ...leaseFailuresBy },
    leaseFenced: { ...leaseFenced, maxMs: Math.max(leaseFenced.maxMs, openMs), now: leaseFencedNow },
    verdicts: { ...verdicts },
    deadViews: Object.fromEntries([...killed].map((k) => [k, [...members.values()].filter((m) => m.alive && m.swim.state(k) === 'dead').length])),
    lag: { p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max) },
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  };
  lag.reset();
  return s;
}

/** A crash: the member stops answering and stops renewing (its Lease is left to expire, as after SIGKILL). */
function kill(name: string): void {
  killed.add(name);
  const m = members.get(name);
  if (!m) return;
  const at = wallNow();
  m.alive = false;
  m.swim.stop();
  if (udp) m.transport.close();
  m.fencing.close();
  // SpeakerLease.stop() would delete the Lease (a graceful stop); a crashed process just stops sending.
  m.crashed = true;
  clearTimeout(m.startTimer);
  clearTimeout(m.swimTimer);
  send({ type: 'killed', name, at });
}

async function stop(): Promise<void> {
  await leases?.stop();
  await Promise.all(
    [...members.values()].map(async (m) => {
      clearTimeout(m.startTimer);
      clearTimeout(m.swimTimer);
      if (m.alive) {
        m.swim.stop();
        if (udp) m.transport.close();
      }
      // Graceful: delete the Leases, as a speaker does on SIGTERM (a crashed one's requests fail fast).
      await Promise.all([m.lease.stop(5000), m.heartbeat.stop(5000)]);
    }),
  );
  send({ type: 'stopped' });
}

/**
 * HERALD_BENCH_SCALE_FREEZE=S:MS: S seconds after the members' liveness started, this worker's loop is
 * held for MS ms (a busy wait: what a long collection or a paused host does to all of its members at
 * once), so that a run shows whether one such stall starts a storm or is over once answered for.
 */
function injectFreeze(liveAfterMs: number): void {
  const spec = process.env.HERALD_BENCH_SCALE_FREEZE;
  if (spec === undefined || spec === '') return;
  const [atS, ms] = spec.split(':').map(Number);
  if (!(Number(atS) >= 0 && Number(ms) > 0)) throw new Error(`HERALD_BENCH_SCALE_FREEZE: expected S:MS, got ${spec}`);
  setTimeout(() => {
    process.stderr.write(`scale worker ${process.pid}: freezing for ${ms} ms (HERALD_BENCH_SCALE_FREEZE)\n`);
    const until = performance.now() + Number(ms);
    while (performance.now() < until);
  }, liveAfterMs + Number(atS) * 1000).unref();
}

// HERALD_BENCH_SCALE_TRACE=1: one line a second on stderr (lag, datagrams, stalls, heap) to see a worker's trouble as it starts.
if (process.env.HERALD_BENCH_SCALE_TRACE === '1') {
  const trace = monitorEventLoopDelay({ resolution: 5 });
  trace.enable();
  // Garbage collections in the second (a major one of a 170 MB heap is a candidate for a stall of every member).
  let gcMs = 0;
  let gcMaxMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcMaxMs = Math.max(gcMaxMs, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  let last = { pkts: 0, cpu: 0, at: performance.now() };
  setInterval(() => {
    let pkts = 0;
    let stalls = 0;
    let asks = 0;
    let noQuorum = 0;
    for (const m of members.values()) {
      pkts += m.transport.traffic.sentPackets;
      stalls += m.swim.counts.stalls;
      asks += m.swim.counts.stallAsks;
      if (m.alive && m.gate.quorumLost) noQuorum++;
    }
    const cpu = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
    const now = performance.now();
    const dt = (now - last.at) / 1000;
    process.stderr.write(`scale worker ${process.pid}: sent ${((pkts - last.pkts) / dt).toFixed(0)}/s cpu ${(((cpu - last.cpu) / dt) * 100).toFixed(0)}% lag max ${(trace.max / 1e6).toFixed(0)} ms stalls ${stalls} (asks ${asks}) no-quorum ${noQuorum} heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB gc ${gcMs.toFixed(0)} ms (max ${gcMaxMs.toFixed(0)})\n`);
    trace.reset();
    gcMs = 0;
    gcMaxMs = 0;
    last = { pkts, cpu, at: now };
  }, 1000).unref();
}

process.on('message', (raw) => {
  const msg = raw as ToWorker;
  switch (msg.type) {
    case 'init':
      void init(msg).catch((err: unknown) => {
        process.stderr.write(`scale worker: init failed: ${String(err)}\n`);
        process.exit(1);
      });
      break;
    case 'peers':
      start(msg.ports, renewMs, access as KubeAccess, namespace);
      break;
    case 'sample':
      send({ type: 'sample', sample: sample() });
      break;
    case 'kill':
      kill(msg.name);
      break;
    case 'explain':
      send({ type: 'explain', explain: { suspicions: [...falseSuspicions], lagBySecond: [...lagBySecond] } });
      break;
    case 'stop':
      void stop().then(() => process.exit(0));
      break;
  }
});
// The simulator died: do not linger.
process.on('disconnect', () => process.exit(0));
