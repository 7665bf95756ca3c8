// A real speaker's RSS holding 10,000 and 100,000 Services, run as the chart runs it (SPEAKER_NODE_FLAGS,
// MALLOC_ARENA_MAX): `herald speaker --announcer record` against a private kube-apiserver 1.20. Creating
// 100,000 Services through the API takes 9-17 minutes here (services.bench.ts), so the Services and their
// EndpointSlices are written straight into etcd (the API server stores JSON: --storage-media-type), as
// the controller would have left them (a status address each, one ready endpoint on the speaker's node),
// before kube-apiserver starts: the speaker then lists and watches them through the real API server.
// For each N: a fresh cluster, one speaker, wait until it announces all N, then until its RSS settles.
// Prints per N: speaker.<N>.rss.mb (settled VmRSS: the median of 10 readings over the 30 s after it
// settled, as V8's heap shrinks once the start's garbage is collected), .rss_first_settled.mb (the
// first settled reading alone, the figure of sessions 7-8), .peak_rss.mb (VmHWM), .heap_used.mb and
// .heap_total.mb and .external.mb (from its metrics: V8's heap, and Buffers and other memory V8 counts outside it), .rss_anon.mb / .rss_file.mb (VmRSS split: V8 heap and malloc
// against node's binary), .seconds_to_announced and .cpu_seconds_to_announced (the speaker's user +
// system CPU until then). HERALD_BENCH_SPEAKER_RSS_N: comma-separated counts (default 10000,100000).
// HERALD_BENCH_SPEAKER_RSS_SNAPSHOT=DIR: a heap snapshot of the settled speaker is written to DIR (node
// --heapsnapshot-signal), for finding what holds its memory.
// HERALD_BENCH_SPEAKER_RSS_NODE_FLAGS: node flags added to the chart's (space-separated), to measure one;
// HERALD_BENCH_SPEAKER_RSS_ENV: environment variables added (space-separated NAME=VALUE, e.g. glibc's MALLOC_*).
// HERALD_BENCH_SPEAKER_RSS_TIMEOUT_MS: how long to wait for all announced (default 30 minutes); on a time-out
// the Services never announced and the speaker's Lease, fencing and claim-gate lines are printed.
// HERALD_BENCH_SPEAKER_RSS_CRDS=1: as deployed with the metallb.io CRDs installed: the speaker then also
// lists and watches every ServiceL2Status (the holders tier) and keeps its own ones; one per Service is
// written into etcd beforehand as an earlier life of this speaker left them (a restarted speaker: it
// then rewrites each once with its new life, 10 per second, so during the reading all are pending).
// With N = 1 among the counts, also speaker.<N>.rss_per_service.bytes: (RSS at N - RSS at 1) / (N - 1).
// Then a SIGTERM: speaker.<N>.sigterm_to_exit.seconds (every Service withdrawn in batches, the Lease deleted)
// and .sigterm.log_lines (the daemon's lines and the record announcer's, one per withdrawn balancer).
// The cluster runs with etcd-seed.ts's SEEDED_APISERVER_ARGS (the seeded ClusterIPs marked allocated; past
// 65,534 Services they are out of kube-apiserver 1.20's IPv6 range, and its repair loop warns for those).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { cpuSeconds, putAll, SEEDED_APISERVER_ARGS, seedStoppedCluster } from './etcd-seed.js';
import { loadKubeConfig } from '../../kube/config.js';
import { TestCluster } from '../cluster/cluster.js';
import { SpeakerProcess, type RecordLine } from '../cluster/speaker-process.js';
import { LIFE_ANNOTATION, NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL, statusObjectName } from '../../speaker/service-status-objects.js';

const SNAPSHOT_DIR = process.env.HERALD_BENCH_SPEAKER_RSS_SNAPSHOT;
const COUNTS = (process.env.HERALD_BENCH_SPEAKER_RSS_N ?? '10000,100000').split(',').map(Number);
const EXTRA_FLAGS = (process.env.HERALD_BENCH_SPEAKER_RSS_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const EXTRA_ENV: Record<string, string> = Object.fromEntries(
  (process.env.HERALD_BENCH_SPEAKER_RSS_ENV ?? '')
    .split(' ')
    .filter((v) => v.includes('='))
    .map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]),
);
const WITH_CRDS = process.env.HERALD_BENCH_SPEAKER_RSS_CRDS === '1';
const CRDS = join(import.meta.dirname, '..', '..', 'charts', 'herald', 'crds', 'metallb.io.yaml');
const NS = 'big';
const NODE = 'node-big';

const out = (name: string, value: number, digits = 1): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
const note = (text: string): void => void process.stdout.write(`# ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The speaker's V8 heap (MB) from its metrics. */
async function heapMb(metricsUrl: string): Promise<{ used: number; total: number; external: number }> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const metric = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 1048576 : NaN;
  };
  return { used: metric('nodejs_heap_size_used_bytes'), total: metric('nodejs_heap_size_total_bytes'), external: metric('nodejs_external_memory_bytes') };
}

/** Applies the metallb.io CRDs and waits until every one is Established. */
function installCrds(kubeconfig: string): void {
  for (const args of [['apply', '-f', CRDS], ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=120s']]) {
    const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kubectl ${args[0]}: ${r.stderr}`);
  }
}

/** The ServiceL2Status of each of the n Services, as this node's speaker wrote them in an earlier life, into etcd (kube-apiserver stopped). */
function seedStatusObjects(etcdEndpoint: string, n: number): Promise<void> {
  return putAll(etcdEndpoint, statusObjects(n));
}

function* statusObjects(n: number): Generator<[string, string]> {
  const life = String(Date.now() - 3_600_000);
  for (let i = 0; i < n; i++) {
    const svc = `svc-${i}`;
    const name = statusObjectName('layer2', NODE, `${NS}/${svc}`);
    const obj = {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'ServiceL2Status',
      metadata: {
        name,
        namespace: 'herald',
        uid: `6f1c3${i.toString(16).padStart(3, '0').slice(-3)}-1a2b-4c3d-8e9f-${i.toString(16).padStart(12, '0')}`,
        generation: 1,
        creationTimestamp: '2026-12-06T17:00:00Z',
        labels: { [NODE_LABEL]: NODE, [SERVICE_NAME_LABEL]: svc, [SERVICE_NAMESPACE_LABEL]: NS },
        annotations: { [LIFE_ANNOTATION]: life },
      },
      spec: {},
      status: { node: NODE, serviceName: svc, serviceNamespace: NS },
    };
    yield [`/registry/metallb.io/servicel2statuses/herald/${name}`, JSON.stringify(obj)];
  }
}

/** Settled RSS (MB) per N measured so far: the per-Service cost against N = 1. */
const settled = new Map<number, number>();

async function measure(n: number): Promise<void> {
  const cluster = await TestCluster.start({ extraApiserverArgs: [...SEEDED_APISERVER_ARGS] });
  let speaker: SpeakerProcess | undefined;
  try {
    const { kubeConfig: access } = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
    if (WITH_CRDS) installCrds(cluster.kubeconfig);
    note(`${n} Services and EndpointSlices written to etcd in ${(await seedStoppedCluster(cluster, access, NS, NODE, n)).toFixed(1)} s`);
    if (WITH_CRDS) {
      await seedStatusObjects(cluster.etcdEndpoint, n);
      note(`${n} ServiceL2Status objects of ${NODE} written to etcd`);
    }
    // With 100,000 Services its start-up lists them all (the ClusterIP repair loop): minutes under load.
    await cluster.startApiserver(900_000);

    const t = performance.now();
    speaker = new SpeakerProcess({ kubeconfig: cluster.kubeconfig, node: NODE, namespace: 'herald', servicesNamespace: NS, nodeArgs: [...SPEAKER_NODE_FLAGS, ...EXTRA_FLAGS, ...(SNAPSHOT_DIR ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${SNAPSHOT_DIR}`] : [])], env: { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX, ...EXTRA_ENV } });
    const metricsUrl = await speaker.metricsUrl();
    const s = speaker;
    const announced = new Set<string>();
    const lines = (events: string[]): string => s.logs.filter((l) => events.includes(String(l.event))).slice(0, 5).map((l) => JSON.stringify(l).slice(0, 300)).join(' | ');
    try {
      await s.waitFor(`all ${n} announced`, (r: RecordLine) => (r.op === 'setBalancer' && r.name !== undefined && announced.add(r.name).size >= n), Number(process.env.HERALD_BENCH_SPEAKER_RSS_TIMEOUT_MS ?? 1_800_000));
    } catch (err) {
      // Which Services, and what the speaker said about its Lease, fencing and claims meanwhile.
      const missing = Array.from({ length: n }, (_, i) => `svc-${i}`).filter((name) => !announced.has(name));
      note(`${missing.length} of ${n} never announced, e.g. ${missing.slice(0, 10).join(' ')}`);
      note(`lines: ${lines(['fenced', 'unfenced', 'leaseRenewedLate', 'layer2ClaimsGated', 'layer2ClaimsResumed', 'layer2ClaimGateTimeout', 'layer2HoldersUnavailable', 'serviceStatusUnavailable', 'watchError', 'syncFailed'])}`);
      throw err;
    }
    out(`speaker.${n}.seconds_to_announced`, (performance.now() - t) / 1000);
    out(`speaker.${n}.cpu_seconds_to_announced`, cpuSeconds(s.pid), 2);
    // A speaker whose start starves its Lease renewal fences (withdraws everything) and starts over.
    const fenced = s.logs.filter((l) => l.event === 'fenced');
    out(`speaker.${n}.fenced_to_announced`, fenced.length, 0);
    for (const l of fenced.slice(0, 3)) note(`fenced: ${JSON.stringify(l).slice(0, 400)}`);
    // A renewal read after the fencing deadline: the Services decided meanwhile are decided again (speaker.ts onLateRenewal).
    out(`speaker.${n}.renewed_late_to_announced`, s.logs.filter((l) => l.event === 'leaseRenewedLate').length, 0);
    // Settled: RSS moved less than 0.5 MB over 3 s (at most 3 minutes).
    let last = 0;
    let rss = procStatusMb(s.pid, 'VmRSS');
    for (let i = 0; i < 60 && Math.abs(rss - last) > 0.5; i++) {
      await sleep(3000);
      last = rss;
      rss = procStatusMb(s.pid, 'VmRSS');
    }
    out(`speaker.${n}.rss_first_settled.mb`, rss);
    const window: number[] = [];
    for (let i = 0; i < 10; i++) {
      await sleep(3000);
      window.push(procStatusMb(s.pid, 'VmRSS'));
    }
    window.sort((a, b) => a - b);
    note(`VmRSS over 30 s after settling: ${window.map((v) => v.toFixed(1)).join(' ')} MB`);
    const heap = await heapMb(metricsUrl);
    const median = ((window[4] as number) + (window[5] as number)) / 2;
    settled.set(n, median);
    out(`speaker.${n}.rss.mb`, median);
    const one = settled.get(1);
    if (one !== undefined && n > 1) out(`speaker.${n}.rss_per_service.bytes`, ((median - one) * 1048576) / (n - 1), 0);
    out(`speaker.${n}.peak_rss.mb`, procStatusMb(s.pid, 'VmHWM'));
    // Anonymous memory (V8's heap, malloc) against file pages (node's binary: code, snapshot, ICU data).
    out(`speaker.${n}.rss_anon.mb`, procStatusMb(s.pid, 'RssAnon'));
    out(`speaker.${n}.rss_file.mb`, procStatusMb(s.pid, 'RssFile'));
    out(`speaker.${n}.heap_used.mb`, heap.used);
    out(`speaker.${n}.heap_total.mb`, heap.total);
    // Outside V8's heap, in malloc: Buffers (response bodies, TLS) and other external memory.
    out(`speaker.${n}.external.mb`, heap.external);
    if (SNAPSHOT_DIR) {
      const before = new Set(readdirSync(SNAPSHOT_DIR));
      s.child.kill('SIGUSR2');
      // Written when a .heapsnapshot file appears and stops growing.
      let file: string | undefined;
      let size = -1;
      for (let i = 0; i < 600; i++) {
        await sleep(1000);
        file ??= readdirSync(SNAPSHOT_DIR).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
        if (!file) continue;
        const now = statSync(join(SNAPSHOT_DIR, file)).size;
        if (now === size && now > 0) break;
        size = now;
      }
      note(`heap snapshot: ${file ? join(SNAPSHOT_DIR, file) : 'none written'}`);
    }
    // Graceful stop: every Service withdrawn in batches (speaker/withdrawals.ts), then the Lease deleted.
    const logsBefore = s.logs.length;
    const t0 = performance.now();
    const code = await s.kill('SIGTERM');
    out(`speaker.${n}.sigterm_to_exit.seconds`, (performance.now() - t0) / 1000, 2);
    out(`speaker.${n}.sigterm.log_lines`, s.logs.length - logsBefore, 0);
    note(`exit ${String(code)}; last lines: ${s.logs.slice(-3).map((l) => JSON.stringify(l).slice(0, 300)).join(' | ')}`);
  } finally {
    await speaker?.kill('SIGKILL');
    await cluster.stop();
  }
}

out('bench.loadavg.1min', loadavg()[0], 2);
note(`${new Date().toISOString()}, node flags ${[...SPEAKER_NODE_FLAGS, ...EXTRA_FLAGS].join(' ')}, MALLOC_ARENA_MAX=${SPEAKER_MALLOC_ARENA_MAX}${Object.entries(EXTRA_ENV).map(([k, v]) => ` ${k}=${v}`).join('')}, metallb.io CRDs ${WITH_CRDS ? 'installed (ServiceL2Status objects seeded)' : 'not installed'}`);
for (const n of COUNTS) await measure(n);
out('bench.loadavg.1min.end', loadavg()[0], 2);
