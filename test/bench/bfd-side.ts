// One side of the BFD benchmark (bfd.bench.ts runs two of these in a namespace): N sessions over
// IPv6 between 2001:db8::1 ("measure") and 2001:db8::1:<i> ("peer"), with Herald's own BfdEndpoint.
// The measure side times the interval between consecutive periodic packets of each session, the
// lateness of every timer it sets, its CPU, and every false Down; prints one JSON result line.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { systemClock, type Clock, type TimerHandle } from '../../protocols/clock.js';
import { BfdEndpoint, type BfdPeer } from '../../protocols/bfd/transport.js';
import type { BfdSession } from '../../protocols/bfd/session.js';

const [role, nText, secondsText, intervalText, multText] = process.argv.slice(2);
const N = Number(nText);
const SECONDS = Number(secondsText);
const INTERVAL = Number(intervalText);
const MULT = Number(multText);
const MEASURE = '2001:db8::1';
const peerAddr = (i: number): string => `2001:db8::1:${(i + 1).toString(16)}`;
const emit = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

// Timer lateness: how long after its due time each timer callback ran (event-loop delay as the sessions feel it).
const lateness: number[] = [];
let recording = false;
const clock: Clock = {
  now: () => systemClock.now(),
  setTimeout: (fn, ms) => {
    const due = systemClock.now() + ms;
    return systemClock.setTimeout(() => {
      const late = systemClock.now() - due;
      if (late > worst) worst = late;
      if (recording) lateness.push(late);
      fn();
    }, ms);
  },
  clearTimeout: (h: TimerHandle) => systemClock.clearTimeout(h),
};

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const lastTx = new Map<BfdSession, number>();
const intervals: number[] = [];
let downs = 0;
let up = 0;
const endpoint = BfdEndpoint.open({
  family: 6,
  ...(role === 'measure' ? { localAddress: MEASURE } : {}),
  maxSessions: N,
  clock,
  onStateChange: (_peer: BfdPeer, c) => {
    if (c.to === 'Up') up++;
    if (c.from === 'Up') {
      up--;
      downsTotal++;
      if (recording) downs++;
    }
  },
  onTransmit: (_peer, session) => {
    if (!recording) return;
    const now = systemClock.now();
    const last = lastTx.get(session);
    if (last !== undefined) intervals.push(now - last);
    lastTx.set(session, now);
  },
});
for (let i = 0; i < N; i++) {
  const timers = { transmitIntervalMs: INTERVAL, receiveIntervalMs: INTERVAL, detectMultiplier: MULT };
  endpoint.addPeer(role === 'measure' ? { peerAddress: peerAddr(i), ...timers } : { peerAddress: MEASURE, localAddress: peerAddr(i), ...timers });
}
emit({ event: 'started', role, sessions: N });
// Per second: the worst timer lateness and the Down count, to see when trouble starts.
let worst = 0;
let downsTotal = 0;
setInterval(() => {
  if (process.env.BFD_BENCH_TRACE) process.stderr.write(`${role} t=${Math.round(performance.now())} up=${up} worstLate=${worst.toFixed(1)} downs=${downsTotal} drops=${JSON.stringify(endpoint.counters.dropped)} rx=${endpoint.counters.rxPackets} tx=${endpoint.counters.txPackets} txErr=${endpoint.counters.txErrors}\n`);
  worst = 0;
}, 1000).unref();

if (role === 'measure') {
  const started = Date.now();
  const waitUp = setInterval(() => {
    if (up < N && Date.now() - started < 120_000) return;
    clearInterval(waitUp);
    emit({ event: 'up', up, afterMs: Date.now() - started });
    // Two seconds for the poll sequences to settle on the fast rate, then measure.
    setTimeout(() => {
      recording = true;
      loopDelay.enable();
      const upAtStart = up;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      setTimeout(() => {
        recording = false;
        const cpu = process.cpuUsage(cpu0);
        const wall = performance.now() - t0;
        const q = (xs: number[], p: number): number => {
          const s = [...xs].sort((a, b) => a - b);
          return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
        };
        emit({
          event: 'result',
          sessions: N,
          upAtStart,
          seconds: wall / 1000,
          falseDowns: downs,
          packetsSent: intervals.length + lastTx.size,
          intervalMs: { min: q(intervals, 0), median: q(intervals, 0.5), p99: q(intervals, 0.99), max: q(intervals, 1) },
          // RFC 5880 §6.8.7 window: 75-100 % of the interval; above it counts as late.
          intervalsOver100pct: intervals.filter((d) => d > INTERVAL).length,
          intervalsOver110pct: intervals.filter((d) => d > INTERVAL * 1.1).length,
          timerLatenessMs: { median: q(lateness, 0.5), p99: q(lateness, 0.99), max: q(lateness, 1) },
          eventLoopDelayMs: { median: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
          cpuPercentOfOneCore: (100 * (cpu.user + cpu.system)) / 1000 / wall,
          rxDropped: endpoint.counters.dropped,
        });
        endpoint.close();
        process.exit(0);
      }, SECONDS * 1000);
    }, 2000);
  }, 100);
}
