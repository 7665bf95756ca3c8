// Speaker figures against a real kube-apiserver (a private test cluster, or HERALD_TEST_KUBECONFIG):
// three `herald speaker --announcer record` processes (decisions made, protocol calls recorded, no
// sockets), 10,000 LoadBalancer Services with IPv6 VIPs from 2001:db8::/32 and one ready endpoint
// each, created in two steps (1,000, then the rest). Prints: Lease writes per second of the three
// speakers with 0, 1,000 and 10,000 Services (must be the same: writes grow with speakers, not
// Services), the time from the last write until all 10,000 are announced, a restarted speaker's
// start-to-announced time, and per-speaker RSS (with the V8 heap breakdown) and CPU in steady state.
// HERALD_BENCH_SERVICES changes the Service count (default 10000); HERALD_TEST_KUBECONFIG runs against an
// existing cluster (it needs a node-port range of more than N ports).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { leaseInformer } from '../../kube/informers.js';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { kubeRequest } from '../../kube/request.js';
import { TestCluster } from '../cluster/cluster.js';
import { setEndpoints, SpeakerProcess, speakerConfigYaml } from '../cluster/speaker-process.js';
import { retryWrite } from '../cluster/retry-write.js';
import { eventually } from '../lab/eventually.js';

/** Polls a synchronous check (see eventually). */
const until = (what: string, check: () => boolean, timeoutMs: number): Promise<boolean> => eventually(what, async () => check(), timeoutMs);

const N = Number(process.env.HERALD_BENCH_SERVICES ?? 10_000);
const STEADY_MS = 20_000;
const CLK_TCK = 100;

function out(name: string, value: number, digits = 2): void {
  process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}


/** The V8 heap and off-heap memory of a speaker, from its process metrics (MB). */
async function memoryBreakdown(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const metric = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 1048576 : NaN;
  };
  return {
    rss: metric('process_resident_memory_bytes'),
    'heap.used': metric('nodejs_heap_size_used_bytes'),
    'heap.total': metric('nodejs_heap_size_total_bytes'),
    external: metric('nodejs_external_memory_bytes'),
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

// Every LoadBalancer Service takes a node port: widen the range to hold 10,000 (as the controller bench does).
const own = process.env.HERALD_TEST_KUBECONFIG ? undefined : await TestCluster.start({ log: () => undefined, extraApiserverArgs: ['--service-node-port-range=20000-32767'] });
const kubeconfig = process.env.HERALD_TEST_KUBECONFIG ?? own!.kubeconfig;
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const speakers: SpeakerProcess[] = [];
const ns = `speaker-bench-${Date.now().toString(36)}`;
// Run as the chart runs them: the same V8 flags and malloc arena cap.
const startSpeaker = (node: string): SpeakerProcess =>
  new SpeakerProcess({ kubeconfig, node, namespace: ns, nodeArgs: SPEAKER_NODE_FLAGS, env: { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX } });
try {
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const apply = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
    input: speakerConfigYaml(ns, { v6: { protocol: 'layer2', addresses: ['2001:db8::/104'] } }),
    encoding: 'utf8',
  });
  if (apply.status !== 0) throw new Error(`kubectl apply: ${apply.stderr}`);

  // Lease writes seen by a watch, per second over a window.
  let leaseWrites = 0;
  const leases = leaseInformer(kc, ns);
  leases.on('update', (l: V1Lease) => {
    if (l.metadata?.name?.startsWith('herald-speaker-')) leaseWrites++;
  });
  await leases.start();
  const leaseRate = async (ms: number): Promise<number> => {
    const before = leaseWrites;
    await new Promise((r) => setTimeout(r, ms));
    return ((leaseWrites - before) * 1000) / ms;
  };

  const nodes = ['a', 'b', 'c'].map((x) => `${ns}-${x}`);
  for (const node of nodes) speakers.push(startSpeaker(node));
  await Promise.all(speakers.map((s) => s.waitForLog('config', (l) => l.event === 'configLoaded', 120_000)));
  await new Promise((r) => setTimeout(r, 3000));
  out('speaker.lease.writes.per.second.3speakers.0services', await leaseRate(10_000));
  out('speaker.0.rss.mb.max', Math.max(...speakers.map((s) => rssMb(s.child.pid!))), 1);

  const total = (): number => speakers.reduce((n, s) => n + (s.running ? s.announced().size : 0), 0);
  const core = kc.makeApiClient(CoreV1Api);
  let created = 0;
  /** Creates Services created..n-1 (with status and endpoints); resolves when all n are announced. */
  const grow = async (n: number): Promise<void> => {
    const t0 = performance.now();
    const indices = Array.from({ length: n - created }, (_, i) => created + i);
    await pool(indices, 16, async (i) => {
      const name = `s-${i}`;
      await retryWrite(`create ${name}`, () =>
        core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] } } }),
      );
      await retryWrite(`status of ${name}`, () =>
        kubeRequest(kc, 'PATCH', `/api/v1/namespaces/${ns}/services/${name}/status`, {
          body: { status: { loadBalancer: { ingress: [{ ip: `2001:db8::${(i + 1).toString(16)}` }] } } },
          contentType: 'application/merge-patch+json',
        }),
      );
      await retryWrite(`endpoints of ${name}`, () => setEndpoints(kc, ns, name, [{ node: 'elsewhere', ready: true }]));
    });
    created = n;
    const written = performance.now();
    process.stdout.write(`# ${indices.length} Services with status and endpoints written in ${((written - t0) / 1000).toFixed(1)} s\n`);
    await until(`${n} Services announced`, () => total() === n, 600_000);
    out(`speaker.${n}.services.announced.after.last.write.seconds`, (performance.now() - written) / 1000, 1);
  };
  for (const n of N > 1000 ? [1000, N] : [N]) {
    await grow(n);
    await new Promise((r) => setTimeout(r, 3000));
    out(`speaker.lease.writes.per.second.3speakers.${n}services`, await leaseRate(10_000));
  }

  // A speaker restarted with every Service in place: start to its share announced again.
  const victim = speakers[0];
  const share = victim.announced().size;
  await victim.kill('SIGTERM');
  await until('takeover of the stopped speaker\'s share', () => total() === N, 60_000);
  const t1 = performance.now();
  speakers[0] = startSpeaker(victim.node);
  await until('restarted speaker announces its share', () => speakers[0].announced().size === share, 300_000);
  out(`speaker.${N}.restart.to.announced.seconds`, (performance.now() - t1) / 1000, 1);

  // Steady state: no speaker has changed anything for 15 s and the restarted one has had time to
  // write its paced Events (20/s, speaker/event-pacer.ts); then measure CPU, RSS (and where it goes) and Lease writes.
  const CHANGES = new Set(['nodeAssigned', 'serviceAnnounced', 'serviceWithdrawn', 'servicesWithdrawn', 'fenced', 'unfenced', 'speakerLive', 'speakerGone']);
  const lastChange = (): number =>
    Math.max(...speakers.map((sp) => sp.logs.reduce((t, l) => (CHANGES.has(String(l.event)) && typeof l.time === 'string' ? Math.max(t, Date.parse(l.time)) : t), 0)));
  const eventsDrained = Date.now() + (share / 20 + 10) * 1000;
  await until('steady state', () => Date.now() > eventsDrained && Date.now() - lastChange() > 15_000, 600_000);
  const fenced = speakers.reduce((n, sp) => n + sp.logs.filter((l) => l.event === 'fenced').length, 0) + victim.logs.filter((l) => l.event === 'fenced').length;
  out(`speaker.${N}.fenced.episodes.total`, fenced, 0);
  const cpu0 = speakers.map((s) => cpuSeconds(s.child.pid!));
  const rate = await leaseRate(STEADY_MS);
  const cpu = speakers.map((s, i) => ((cpuSeconds(s.child.pid!) - cpu0[i]) * 1000) / STEADY_MS);
  const rss = speakers.map((s) => rssMb(s.child.pid!));
  out(`speaker.lease.writes.per.second.3speakers.${N}services.steady`, rate);
  out(`speaker.${N}.steady.cpu.percent.max`, 100 * Math.max(...cpu), 1);
  out(`speaker.${N}.rss.mb.max`, Math.max(...rss), 1);
  const worst = speakers[rss.indexOf(Math.max(...rss))];
  const mem = await memoryBreakdown(await worst.metricsUrl());
  for (const [k, v] of Object.entries(mem)) out(`speaker.${N}.worst.${k}.mb`, v, 1);
  await leases.stop();
} finally {
  await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
  await own?.stop();
}

