// Allocator benchmark: 100,000 IPv4 and 100,000 IPv6 allocations, heap for the 200,000, checkConfig
// against them, and MetalLB's method (walk from the pool start to the first free address) measured
// in the same run. Run with `tsx --expose-gc` (make bench). One figure per line: name value.
// Knobs: ALLOC_BENCH_RUNS (default 7) cold repetitions of the 100,000 + 100,000 allocations, each into a
// fresh allocator (median and max printed; the first run, JIT warm-up included, also alone);
// ALLOC_BENCH_ONLY_ALLOCATE=1 stops after those (for `node --cpu-prof`).
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { AddressPool, Config } from '../../config/model.js';
import { Allocator } from '../../allocator/allocator.js';
import { formatIp, parseIp } from '../../allocator/ip.js';
import type { ServiceRequest } from '../../allocator/service-request.js';

const COUNT = 100_000;
const RUNS = Math.max(1, Number(process.env.ALLOC_BENCH_RUNS ?? 7));
const ONLY_ALLOCATE = process.env.ALLOC_BENCH_ONLY_ALLOCATE === '1';
const NAIVE_BUDGET_SECONDS = 10;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function figure(name: string, value: number, digits = 3): void {
  console.log(`${name} ${value.toFixed(digits)}`);
}

/** CPU time of the main thread alone (Linux schedstat, ns), without the GC and compiler threads process.cpuUsage() adds. */
function mainThreadSeconds(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return undefined;
  }
}

interface Timing {
  wall: number;
  cpu: number;
  /** undefined where /proc is not there. */
  main: number | undefined;
}

/** Runs fn: its wall time, the process CPU time it used and the main thread's CPU time (the latter two are
 * steadier on a busy machine; the last is the loop's own work plus the GC pauses it takes). */
function measure(fn: () => void): Timing {
  const cpu = process.cpuUsage();
  const main = mainThreadSeconds();
  const t = performance.now();
  fn();
  const wall = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  const mainAfter = mainThreadSeconds();
  return { wall, cpu: (used.user + used.system) / 1e6, main: main !== undefined && mainAfter !== undefined ? mainAfter - main : undefined };
}

function printTiming(name: string, t: Timing): void {
  figure(`${name}.seconds`, t.wall);
  figure(`${name}.cpu-seconds`, t.cpu);
  if (t.main !== undefined) figure(`${name}.main-thread-cpu-seconds`, t.main);
}

/** Runs fn once and prints its figures. */
function timed(name: string, fn: () => void): number {
  const t = measure(fn);
  printTiming(name, t);
  return t.wall;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and max over the runs of each figure, one per line. */
function printRuns(name: string, runs: Timing[]): void {
  const series: [string, number[]][] = [
    ['main-thread-cpu-seconds', runs.flatMap((r) => (r.main === undefined ? [] : [r.main]))],
    ['seconds', runs.map((r) => r.wall)],
    ['cpu-seconds', runs.map((r) => r.cpu)],
  ];
  for (const [what, xs] of series) {
    if (xs.length === 0) continue;
    figure(`${name}.${what}.median`, median(xs));
    figure(`${name}.${what}.max`, Math.max(...xs));
  }
}

function pool(name: string, source: string, family: 'ipv4' | 'ipv6', prefixLength: number): AddressPool {
  const first = parseIp(source.split('/')[0])!.num;
  const bits = family === 'ipv4' ? 32 : 128;
  const last = first + (1n << BigInt(bits - prefixLength)) - 1n;
  return { name, protocol: 'layer2', addresses: [{ family, first, last, source, prefixLength }], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [] };
}

// 100,000 addresses do not fit a /16 (65,536), so the IPv4 pool is a /15 (198.18.0.0/15, benchmark-only).
const config: Config = {
  peers: [],
  bgpCommunities: {},
  bfdProfiles: [],
  pools: [pool('v4', '198.18.0.0/15', 'ipv4', 15), pool('v6', '2001:db8::/64', 'ipv6', 64)],
};
// The config to check against: pools renamed and grown, nothing breaks (every address is looked up).
const next: Config = {
  peers: [],
  bgpCommunities: {},
  bfdProfiles: [],
  pools: [pool('v4-renamed', '198.18.0.0/15', 'ipv4', 15), pool('v6-grown', '2001:db8::/48', 'ipv6', 48)],
};

function request(key: string, family: 'ipv4' | 'ipv6'): ServiceRequest {
  return { key, families: [family], requestedIps: [], ports: [{ protocol: 'TCP', port: 80 }], externalTrafficPolicy: 'Cluster', selector: {} };
}

/** MetalLB's method: walk from the start of the pool to the first address no Service holds. */
class NaiveAllocator {
  private readonly used = new Set<number>();
  constructor(
    private readonly first: number,
    private readonly last: number,
  ) {}
  allocate(): string {
    for (let n = this.first; n <= this.last; n++) {
      if (!this.used.has(n)) {
        this.used.add(n);
        return formatIp('ipv4', BigInt(n));
      }
    }
    throw new Error('exhausted');
  }
}

function timeOurs(n: number): number {
  const a = new Allocator(config);
  const keys = Array.from({ length: n }, (_, i) => `default/svc-${i}`);
  const t = performance.now();
  for (let i = 0; i < n; i++) a.allocate(request(keys[i], 'ipv4'));
  return (performance.now() - t) / 1000;
}

function timeNaive(n: number): number {
  const v4 = config.pools[0].addresses[0];
  const a = new NaiveAllocator(Number(v4.first), Number(v4.last));
  const t = performance.now();
  for (let i = 0; i < n; i++) a.allocate();
  return (performance.now() - t) / 1000;
}

figure('bench.loadavg.1min', loadavg()[0], 2);

// Keys exist before the allocator (the Services' own names, held by the informer cache), so the heap
// figure is the allocator's; the one with keys counts their strings too. Flat strings, as JSON gives.
const base0 = heapAfterGc();
const keys4 = JSON.parse(JSON.stringify(Array.from({ length: COUNT }, (_, i) => `default/svc-v4-${i}`))) as string[];
const keys6 = JSON.parse(JSON.stringify(Array.from({ length: COUNT }, (_, i) => `default/svc-v6-${i}`))) as string[];
const base1 = heapAfterGc();

// Cold runs: each allocates 100,000 IPv4 then 100,000 IPv6 into a fresh allocator (the previous one
// collected first). The last one's allocator is measured and used below.
const v4Runs: Timing[] = [];
const v6Runs: Timing[] = [];
let allocator = new Allocator(config);
for (let run = 0; run < RUNS; run++) {
  allocator = undefined as unknown as Allocator;
  gc();
  allocator = new Allocator(config);
  v4Runs.push(
    measure(() => {
      for (let i = 0; i < COUNT; i++) allocator.allocate(request(keys4[i], 'ipv4'));
    }),
  );
  v6Runs.push(
    measure(() => {
      for (let i = 0; i < COUNT; i++) allocator.allocate(request(keys6[i], 'ipv6'));
    }),
  );
}
figure('alloc.runs.count', RUNS, 0);
printTiming('alloc.v4.100k.first', v4Runs[0]);
printTiming('alloc.v6.100k.first', v6Runs[0]);
printRuns('alloc.v4.100k', v4Runs);
printRuns('alloc.v6.100k', v6Runs);
if (allocator.assignmentOf(keys6[COUNT - 1])?.ips[0] !== formatIp('ipv6', parseIp('2001:db8::')!.num + BigInt(COUNT - 1))) {
  throw new Error('the IPv6 allocations did not take the lowest addresses in order');
}
if (ONLY_ALLOCATE) process.exit(0);

const heap = heapAfterGc();
figure('alloc.heap.200k.megabytes', (heap - base1) / 2 ** 20, 1);
figure('alloc.heap.200k-with-keys.megabytes', (heap - base0) / 2 ** 20, 1);

let checks: ReturnType<Allocator['checkConfig']> = [];
timed('alloc.check-config.200k', () => {
  checks = allocator.checkConfig(next);
});
if (checks.length !== 2 * COUNT || checks.some((c) => c.breaking)) throw new Error('checkConfig gave an unexpected answer');

// Release every other IPv4 Service, then allocate again: each must take the lowest hole.
timed('alloc.v4.50k-release-reallocate', () => {
  for (let i = 0; i < COUNT; i += 2) allocator.release(keys4[i]);
  for (let i = 0; i < COUNT; i += 2) allocator.allocate(request(keys4[i], 'ipv4'));
});
if (allocator.assignmentOf(keys4[COUNT - 2])?.ips[0] !== formatIp('ipv4', parseIp('198.18.0.0')!.num + BigInt(COUNT - 2))) {
  throw new Error('re-allocation did not return the lowest holes');
}

// MetalLB's walk is quadratic: grow the count while the next size (about 4x the time) fits the budget.
let size = 1000;
let naive = timeNaive(size);
while (naive * 4 < NAIVE_BUDGET_SECONDS && size * 2 <= 131_072) {
  size *= 2;
  naive = timeNaive(size);
}
const ours = timeOurs(size);
figure('alloc.naive-walk.size.count', size, 0);
figure('alloc.naive-walk.seconds', naive);
figure('alloc.ours-at-naive-size.seconds', ours);
figure('alloc.naive-walk-vs-ours.ratio', naive / ours, 1);
