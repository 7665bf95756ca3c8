// Controller restart with every Service already allocated, at 100,000 Services, in process: the test
// kube-apiserver here creates 100-190 Services/s under load, so 100,000 would take 9-17 minutes to create
// (services.bench.ts measures the same restart against a real API server at the N it can hold).
// What runs is the real Controller (no leader election: the one-list start), fed by a Service source
// that does what kube/informer.ts's list does with the API server's answer: pages sized as
// kube/list-pages.ts sizes them (500, then about PAGE_BYTES each), each body as the socket hands it
// over (64 kB Buffers, concatenated, decoded to a string: kube/request.ts readBody), JSON.parse
// (managedFields included), decodeObject, the cache Map, one add event per Service. Not measured: the
// API server producing the pages (written to files by a child process before the clock starts, read back in
// chunks) and the wire.
// Figures (one per line): the list's parse+decode, restart -> leading (restored), restart -> ready (a
// Service created at the restart allocated: every Service queued before it reconciled), status writes (the
// pool annotation rides in them; target 0), main-thread CPU of each, heap, RSS and peak RSS (VmHWM from
// the restart on; rss-before: what the process held before it), then
// malloc_trim(0) as the daemons call it every MALLOC_TRIM_INTERVAL_MS (cli/malloc-trim.ts) with this heap:
// the first call after the restart (what the list freed), then 30 calls 100 ms apart (median, max).
// HERALD_BENCH_RESTART_N overrides 100,000; HERALD_BENCH_RESTART_PAGE_BYTES the later pages' bytes (PAGE_BYTES).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMallocTrim } from '../../cli/malloc-trim.js';
import { FIRST_PAGE_ITEMS, PAGE_BYTES, nextPageSize } from '../../kube/list-pages.js';
import { loadavg, tmpdir } from 'node:os';
import type { V1ConfigMap, V1Service } from '@kubernetes/client-node';
import { Controller, type EventSink } from '../../controller/controller.js';
import { ControllerMetrics } from '../../controller/metrics.js';
import type { KubeAccess } from '../../kube/access.js';
import { allocatedIpv6Service } from './allocated-service.js';
import { decodeObject } from '../../kube/decode.js';
import { objectKey, type InformerEventHandler, type InformerSource } from '../../kube/informer.js';
import { createLogger } from '../../kube/log.js';
import type { StatusWrite } from '../../kube/status.js';

const N = Number(process.env.HERALD_BENCH_RESTART_N ?? 100_000);
const PAGE_BYTES_USED = Number(process.env.HERALD_BENCH_RESTART_PAGE_BYTES ?? PAGE_BYTES);
/** The socket's chunks of a body (kube/request.ts readBody concatenates them). */
const CHUNK = 64 * 1024;
const NS = 'bench';

const out = (name: string, value: number, digits = 3): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);

function mainThreadSeconds(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

const hex = (i: number): string => i.toString(16);

/** One Service as kube-apiserver 1.20 lists it after Herald wrote its status (IPv6 ClusterIP and VIP, as services.bench.ts). */
function serviceJson(i: number): string {
  const name = `svc-${i}`;
  const time = '2026-12-06T17:00:00Z';
  return JSON.stringify({
    metadata: {
      name,
      namespace: NS,
      uid: `6f1c${hex(i).padStart(4, '0')}-1a2b-4c3d-8e9f-${hex(i).padStart(12, '0')}`,
      resourceVersion: String(1000 + 2 * i),
      creationTimestamp: time,
      annotations: { 'metallb.io/ip-allocated-from-pool': 'p' },
      managedFields: [
        {
          manager: 'node',
          operation: 'Update',
          apiVersion: 'v1',
          time,
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:spec': {
              'f:allocateLoadBalancerNodePorts': {},
              'f:externalTrafficPolicy': {},
              'f:ports': { '.': {}, 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } },
              'f:selector': { '.': {}, 'f:app': {} },
              'f:sessionAffinity': {},
              'f:type': {},
            },
          },
        },
        { manager: 'herald', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:metallb.io/ip-allocated-from-pool': {} } } } },
        { manager: 'herald', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } } },
      ],
    },
    ...allocatedIpv6Service(i, { app: 'bench' }),
  });
}

/** Page `[start, start + limit)` of the list as the API server sends it. */
function pageText(start: number, limit: number): string {
  const items: string[] = [];
  const end = Math.min(N, start + limit);
  for (let i = start; i < end; i++) items.push(serviceJson(i));
  const cont = end < N ? `,"continue":"page-${end}"` : '';
  return `{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"${1000 + 2 * N}"${cont}},"items":[${items.join(',')}]}`;
}

/**
 * The list's pages as the API server sends them, split as the client will ask for them (list-pages.ts),
 * written to files by a child process before the clock starts and read back as the socket would hand
 * them over: this process never held them, so its RSS is the controller's (plus the read buffers).
 */
function writePages(dir: string): void {
  for (let start = 0, limit = FIRST_PAGE_ITEMS, page = 0; start < N; page++) {
    const wire = Buffer.from(pageText(start, limit));
    writeFileSync(join(dir, String(page)), wire);
    const items = Math.min(limit, N - start);
    start += items;
    limit = nextPageSize(items, wire.length, limit, PAGE_BYTES_USED);
  }
}
const BUILD_DIR = process.env.HERALD_BENCH_RESTART_BUILD;
if (BUILD_DIR !== undefined) {
  writePages(BUILD_DIR);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'herald-restart-'));
const built = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { env: { ...process.env, HERALD_BENCH_RESTART_BUILD: dir }, stdio: ['ignore', 'ignore', 'inherit'] });
if (built.status !== 0) {
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`writing the pages failed (exit ${String(built.status)})`);
}
const pageFiles = readdirSync(dir).sort((a, b) => Number(a) - Number(b)).map((f) => join(dir, f));
const wireBytes = pageFiles.reduce((n, f) => n + statSync(f).size, 0);
// VmHWM from here on: the restart's peak (Linux: 5 resets the peak RSS).
writeFileSync('/proc/self/clear_refs', '5');

/** One page's body as a socket hands it over: 64 kB Buffers, each its own allocation. */
function readChunks(file: string): Buffer[] {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) return chunks;
      chunks.push(n === CHUNK ? chunk : chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** VmHWM or VmRSS of this process, MB. */
function procMb(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A Service source whose one list is the pages above, parsed and decoded the way kube/informer.ts does. */
class ListedServices implements InformerSource<V1Service> {
  private store = new Map<string, V1Service>();
  private readonly handlers = { add: [] as InformerEventHandler<V1Service>[], update: [] as InformerEventHandler<V1Service>[], delete: [] as InformerEventHandler<V1Service>[] };
  readonly resource = 'services';
  listsRequested = 0;
  syncedFromList: number | undefined;
  /** Seconds (wall, main-thread CPU) the list's parse + decode + cache took. */
  listWall = 0;
  listCpu = 0;
  /** The list's pages. */
  pages = 0;

  on(event: 'add' | 'update' | 'delete' | 'error', handler: InformerEventHandler<V1Service> | ((err: Error) => void)): this {
    if (event !== 'error') this.handlers[event].push(handler as InformerEventHandler<V1Service>);
    return this;
  }

  async start(): Promise<void> {
    this.listsRequested++;
    const t = performance.now();
    const c = mainThreadSeconds();
    const items: V1Service[] = [];
    for (const file of pageFiles) {
      // Each page arrives as its own response: the event loop turns between them.
      await new Promise((r) => setImmediate(r));
      // The socket's chunks, concatenated and decoded (readBody), parsed, decoded.
      const body = Buffer.concat(readChunks(file));
      this.pages++;
      const page = JSON.parse(body.toString('utf8')) as { items: unknown[] };
      for (const raw of page.items) items.push(decodeObject<V1Service>(raw));
    }
    const next = new Map<string, V1Service>();
    for (const obj of items) next.set(objectKey(obj), obj);
    this.store = next;
    this.syncedFromList = this.listsRequested;
    this.listWall = (performance.now() - t) / 1000;
    this.listCpu = mainThreadSeconds() - c;
    for (const obj of next.values()) for (const h of this.handlers.add) h(obj, undefined);
  }

  listSnapshot(): Promise<number> {
    return Promise.resolve(Math.max(1, this.listsRequested));
  }

  /** A Service created after the list (a watch event). */
  add(obj: V1Service): void {
    this.store.set(objectKey(obj), obj);
    for (const h of this.handlers.add) h(obj, undefined);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
  get(key: string): V1Service | undefined {
    return this.store.get(key);
  }
  list(): V1Service[] {
    return [...this.store.values()];
  }
  keys(): string[] {
    return [...this.store.keys()];
  }
  get size(): number {
    return this.store.size;
  }
}

/** The ConfigMap (legacy MetalLB format): the pool the statuses' addresses came from. */
class OneConfigMap implements InformerSource<V1ConfigMap> {
  private readonly cm: V1ConfigMap = {
    metadata: { name: 'config', namespace: 'herald', resourceVersion: '1' },
    data: { config: 'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [2001:db8:1::/96]\n' },
  };
  private readonly adds: InformerEventHandler<V1ConfigMap>[] = [];
  on(event: 'add' | 'update' | 'delete' | 'error', handler: InformerEventHandler<V1ConfigMap> | ((err: Error) => void)): this {
    if (event === 'add') this.adds.push(handler as InformerEventHandler<V1ConfigMap>);
    return this;
  }
  start(): Promise<void> {
    for (const h of this.adds) h(this.cm, undefined);
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  get(key: string): V1ConfigMap | undefined {
    return key === 'herald/config' ? this.cm : undefined;
  }
  list(): V1ConfigMap[] {
    return [this.cm];
  }
  keys(): string[] {
    return ['herald/config'];
  }
  get size(): number {
    return 1;
  }
}

const CANARY = 'canary';
const noEvents: EventSink = { record: () => undefined, close: () => Promise.resolve() };
let writes = 0;
let resolveCanary!: () => void;
const canaryAllocated = new Promise<void>((r) => (resolveCanary = r));

out('bench.loadavg.1min', loadavg()[0], 2);
out('restart.services.count', N, 0);
out('restart.list.page-bytes', PAGE_BYTES_USED, 0);
out('restart.list.megabytes', wireBytes / 2 ** 20, 1);
out('restart.rss-before.megabytes', procMb('VmRSS'), 1);

let leadingAt: number | undefined;
let leadingCpu: number | undefined;
let restoreNote = '';
function onLogLine(line: string): void {
  if (leadingAt !== undefined || !line.includes('"event":"leading"')) return;
  leadingAt = performance.now();
  leadingCpu = mainThreadSeconds();
  restoreNote = (JSON.parse(line) as { reason?: string }).reason ?? '';
}

const services = new ListedServices();
const heap0 = process.memoryUsage().heapUsed;
const controller = new Controller({
  kubeConfig: {} as KubeAccess, // never used: every request goes through `api`
  namespace: 'herald',
  configMap: 'config',
  leaderElect: false,
  identity: 'bench',
  // The "leading" line marks the end of the restore (the term starts synchronously after it).
  logger: createLogger({ component: 'controller', level: 'info', destination: { write: onLogLine } }),
  metrics: new ControllerMetrics({ processMetrics: false }),
  api: {
    services,
    configMaps: new OneConfigMap(),
    events: noEvents,
    listServices: () => Promise.reject(new Error('the one-list start sends no list of its own')),
    updateStatus: (_ns: string, name: string, mutate: (svc: V1Service) => StatusWrite | undefined, current: V1Service) => {
      if (mutate(current) === undefined) return Promise.resolve(undefined);
      if (name === CANARY) resolveCanary();
      else writes++;
      return Promise.resolve(undefined);
    },
  },
});

const t0 = performance.now();
const c0 = mainThreadSeconds();
const p0 = process.cpuUsage();
const started = controller.start();
await started;
// The canary is created at the restart: its event arrives once the list is in the cache.
services.add({
  metadata: { name: CANARY, namespace: NS, uid: 'canary', resourceVersion: String(1001 + 2 * N) },
  spec: { type: 'LoadBalancer', ports: [{ protocol: 'TCP', port: 80 }], ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' },
});
await canaryAllocated;
const readyAt = performance.now();
const readyCpu = mainThreadSeconds();

out('restart.list.pages', services.pages, 0);
out('restart.list.parse-decode.seconds', services.listWall);
out('restart.list.parse-decode.main-thread-cpu-seconds', services.listCpu);
if (leadingAt !== undefined && leadingCpu !== undefined) {
  out('restart.to-leading.seconds', (leadingAt - t0) / 1000);
  out('restart.to-leading.main-thread-cpu-seconds', leadingCpu - c0);
}
process.stdout.write(`# ${restoreNote}\n`);
out('restart.to-ready.seconds', (readyAt - t0) / 1000);
out('restart.to-ready.main-thread-cpu-seconds', readyCpu - c0);
const used = process.cpuUsage(p0);
out('restart.to-ready.process-cpu-seconds', (used.user + used.system) / 1e6);
out('restart.status-writes.count', writes, 0);
out('restart.heap.megabytes', (process.memoryUsage().heapUsed - heap0) / 2 ** 20, 1);
out('restart.rss.megabytes', process.memoryUsage().rss / 2 ** 20, 1);
out('restart.peak-rss.megabytes', procMb('VmHWM'), 1);

// malloc_trim(0) with this heap, timed per call (the daemons' timer calls it on the main thread).
const trim = loadMallocTrim();
if (trim instanceof Error) {
  process.stdout.write(`# malloc_trim not measured: ${trim.message}\n`);
} else {
  const timed = (): number => {
    const t = performance.now();
    trim();
    return performance.now() - t;
  };
  const rssBefore = procMb('VmRSS');
  out('restart.malloc-trim.first.ms', timed());
  out('restart.malloc-trim.first.rss-released.megabytes', rssBefore - procMb('VmRSS'), 1);
  const calls: number[] = [];
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    calls.push(timed());
  }
  calls.sort((a, b) => a - b);
  out('restart.malloc-trim.median.ms', ((calls[14] as number) + (calls[15] as number)) / 2);
  out('restart.malloc-trim.max.ms', calls[29] as number);
}
out('bench.loadavg.1min.end', loadavg()[0], 2);
await controller.stop();
rmSync(dir, { recursive: true, force: true });
