// The speaker's Event pacer holds one pending Event per owned Service for N/20 s after a start
// (speaker/event-pacer.ts): its own heap at 10,000 pending items, against a Map of the same items (what
// it replaced), after full GCs, the least of three fills (whatever else allocates meanwhile only adds).
// Items and keys exist before (the speaker's cached Services and their keys): only the line is counted.
// Run with --expose-gc (make bench does). HERALD_BENCH_EVENT_PACER_N overrides 10,000.
import { loadavg } from 'node:os';
import { ManualClock } from '../../protocols/clock.js';
import { EventPacer } from '../../speaker/event-pacer.js';

const N = Number(process.env.HERALD_BENCH_EVENT_PACER_N ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');
const used = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const clock = new ManualClock();
const items = Array.from({ length: N }, (_, i) => ({ key: `namespace-${i % 100}/service-${i}` }));
const fill = (): EventPacer<{ key: string }> => {
  const pacer = new EventPacer<{ key: string }>({ send: () => undefined, clock, paused: true, keyOf: (item) => item.key });
  for (const item of items) pacer.push(item.key, item);
  return pacer;
};
const fillMap = (): Map<string, { key: string }> => {
  const map = new Map<string, { key: string }>();
  for (const item of items) map.set(item.key, item);
  return map;
};
// Once first, so that code and caches made on the way are not counted.
fill().close();
fillMap().clear();
let bytes = Infinity;
let mapBytes = Infinity;
let pacer = fill();
let map = fillMap();
for (let i = 0; i < 3; i++) {
  pacer.close();
  map.clear();
  const before = used();
  pacer = fill();
  bytes = Math.min(bytes, used() - before);
  const mapBefore = used();
  map = fillMap();
  mapBytes = Math.min(mapBytes, used() - mapBefore);
}
if (pacer.queued !== N || map.size !== N) throw new Error(`filled ${pacer.queued} / ${map.size} of ${N}`);
pacer.close();
process.stdout.write(`# ${new Date().toISOString()} load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
process.stdout.write(`event-pacer.${N}.bytes_per_pending ${(bytes / N).toFixed(1)}\n`);
process.stdout.write(`event-pacer.${N}.map_bytes_per_pending ${(mapBytes / N).toFixed(1)}\n`);
