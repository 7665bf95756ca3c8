// Liveness over real UDP, CPU per datagram (issue 17.2: what the scale simulator's real-time part pays
// per member). M members in this one process, each as on a node: its own LivenessTransport and UDP
// socket on 127.0.0.1, its own wire state (HMAC key, stamps, replay windows, node ids) and its own
// Swim on the system clock, with the `herald speaker` liveness timing; no Lease, no kube-apiserver.
// After a warm-up, over a window it prints:
//   liveness_udp.<M>.datagrams_per_s           sent + received by all members
//   liveness_udp.<M>.cpu_percent               this process (user + system) over the window
//   liveness_udp.<M>.cpu_us_per_datagram       CPU per datagram sent or received (each datagram counts twice: once sent, once received)
//   liveness_udp.<M>.lag_p99_ms / lag_max_ms   event-loop lag
//   liveness_udp.<M>.false_suspicions / drops  must be 0 (a starved run says so here)
// Stall detection is off (STALL_MS): the figure is the steady mix's cost, whatever the host's load.
// The scale simulator's workers pay this plus their share of the Lease; this is the part that grows
// with the number of members per core. Env: HERALD_BENCH_LIVENESS_UDP_M (default "100,250"),
// HERALD_BENCH_LIVENESS_UDP_WINDOW_S (default 10), HERALD_BENCH_LIVENESS_UDP_WARMUP_S (default 3).
// For a profile: node --import tsx --cpu-prof test/bench/liveness-udp.bench.ts
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { systemClock } from '../../protocols/clock.js';
import { Swim } from '../../protocols/liveness/swim.js';
import { LivenessTransport } from '../../protocols/liveness/transport.js';
import { speakerTimingDefaults } from '../sim/speaker-defaults.js';

const SIZES = (process.env.HERALD_BENCH_LIVENESS_UDP_M ?? '100,250').split(',').filter((x) => x.trim() !== '').map(Number);
const WINDOW_S = Number(process.env.HERALD_BENCH_LIVENESS_UDP_WINDOW_S ?? 10);
const WARMUP_S = Number(process.env.HERALD_BENCH_LIVENESS_UDP_WARMUP_S ?? 3);

/**
 * No stall detection here (swim.ts: a member not run for stallMs pings every member): on a loaded host
 * this niced process is not run for seconds at times, and the storm of pings that follows would
 * replace the steady mix of datagrams whose cost this measures (the scale simulator reports stalls).
 */
const STALL_MS = 3_600_000;

const out = (name: string, value: number, digits = 2): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Member {
  name: string;
  swim: Swim;
  transport: LivenessTransport;
}

async function run(m: number): Promise<void> {
  const t = speakerTimingDefaults();
  const secret = randomBytes(32);
  const names = Array.from({ length: m }, (_, i) => `node-${String(i).padStart(4, '0')}`);
  const members: Member[] = [];
  const counts = { drops: 0, suspicions: 0 };
  const ports = new Map<string, number>();
  for (const name of names) {
    const ref: { swim?: Swim } = {};
    const transport = new LivenessTransport({ secret, self: name, address: '127.0.0.1', port: 0, onMessage: (msg) => ref.swim?.receive(msg), onDrop: () => void counts.drops++ });
    ports.set(name, await transport.start());
    const swim = new Swim({ clock: systemClock, self: name, periodMs: t.periodMs, probeTimeoutMs: t.probeTimeoutMs, suspicionMs: t.suspicionMs, indirect: 2, stallMs: STALL_MS, send: (to, msg) => transport.send(to, msg) });
    swim.onChange((c) => void (c.state !== 'alive' && counts.suspicions++));
    ref.swim = swim;
    members.push({ name, swim, transport });
  }
  for (const x of members) {
    for (const [peer, port] of ports) if (peer !== x.name) x.transport.setPeer(peer, '127.0.0.1', port, x.transport.advertises);
    x.swim.setMembers(names);
  }
  (globalThis as { gc?: () => void }).gc?.();
  // Probe phases spread over one period, as members that started at unrelated times.
  for (const x of members) setTimeout(() => x.swim.start(), Math.random() * t.periodMs);
  await sleep(WARMUP_S * 1000);
  const packets = (): number => members.reduce((s, x) => s + x.transport.traffic.sentPackets + x.transport.traffic.receivedPackets, 0);
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const p0 = packets();
  const c0 = cpuNow();
  const w0 = performance.now();
  const s0 = counts.suspicions;
  const d0 = counts.drops;
  await sleep(WINDOW_S * 1000);
  const p1 = packets();
  const c1 = cpuNow();
  const secs = (performance.now() - w0) / 1000;
  lag.disable();
  for (const x of members) {
    x.swim.stop();
    x.transport.close();
  }
  const datagrams = p1 - p0;
  out(`liveness_udp.${m}.datagrams_per_s`, datagrams / secs, 0);
  out(`liveness_udp.${m}.cpu_percent`, ((c1 - c0) / secs) * 100, 1);
  out(`liveness_udp.${m}.cpu_us_per_datagram`, ((c1 - c0) / datagrams) * 1e6, 1);
  out(`liveness_udp.${m}.lag_p99_ms`, lag.percentile(99) / 1e6, 1);
  out(`liveness_udp.${m}.lag_max_ms`, lag.max / 1e6, 1);
  out(`liveness_udp.${m}.false_suspicions`, counts.suspicions - s0, 0);
  out(`liveness_udp.${m}.drops`, counts.drops - d0, 0);
  // A stall makes a member ping every member (swim.ts): the datagram mix is no longer the steady state's.
  out(`liveness_udp.${m}.stalls`, members.reduce((s, x) => s + x.swim.counts.stalls, 0), 0);
}

process.stdout.write(`# liveness over real UDP, ${new Date().toISOString()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
for (const m of SIZES) await run(m);
process.stdout.write(`# done, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
