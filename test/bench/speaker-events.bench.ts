// Do a speaker's Events starve the Leases? Against a real kube-apiserver (a private test cluster):
// N layer2 Services (default 2,000; HERALD_BENCH_EVENT_SERVICES) with externalTrafficPolicy Local
// and their only endpoint on node A, so speaker A owns them all and B, C own none. B and C run
// first; then A starts next to all N (a restart of the owner) and writes N nodeAssigned Events at
// once. While those Events are written, the three speakers' Lease writes are counted from a watch.
// Prints: Lease writes per second of each speaker over the Event window (the lowest of the three),
// the longest gap between two Lease writes of any speaker (a gap of a lease duration, 3 s, fences),
// fencing episodes, A's start -> all announced, and A's start -> all N Events written.
import { spawnSync } from 'node:child_process';
import { CoreV1Api, KubeConfig, type KubernetesObject, type V1Lease } from '@kubernetes/client-node';
import { decodeObject } from '../../kube/decode.js';
import { Informer } from '../../kube/informer.js';
import { leaseInformer } from '../../kube/informers.js';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { TestCluster } from '../cluster/cluster.js';
import { createServiceWithIps, setEndpoints, SpeakerProcess, speakerConfigYaml } from '../cluster/speaker-process.js';
import { retryWrite } from '../cluster/retry-write.js';
import { eventually } from '../lab/eventually.js';

/** Polls a synchronous check (see eventually). */
const until = (what: string, check: () => boolean, timeoutMs: number): Promise<boolean> => eventually(what, async () => check(), timeoutMs);

const N = Number(process.env.HERALD_BENCH_EVENT_SERVICES ?? 2000);

function out(name: string, value: number, digits = 2): void {
  process.stdout.write(`${name} ${value.toFixed(digits)}\n`);
}


const own = await TestCluster.start({ log: () => undefined, extraApiserverArgs: ['--service-node-port-range=20000-32767'] });
const kc = new KubeConfig();
kc.loadFromFile(own.kubeconfig);
const ns = `event-bench-${Date.now().toString(36)}`;
const speakers: SpeakerProcess[] = [];
const startSpeaker = (node: string): SpeakerProcess =>
  new SpeakerProcess({ kubeconfig: own.kubeconfig, node, namespace: ns, nodeArgs: SPEAKER_NODE_FLAGS, env: { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX } });
try {
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const apply = spawnSync('kubectl', ['--kubeconfig', own.kubeconfig, 'apply', '-f', '-'], {
    input: speakerConfigYaml(ns, { v6: { protocol: 'layer2', addresses: ['2001:db8::/104'] } }),
    encoding: 'utf8',
  });
  if (apply.status !== 0) throw new Error(`kubectl apply: ${apply.stderr}`);
  const [a, b, c] = ['a', 'b', 'c'].map((x) => `${ns}-${x}`);

  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        const name = `s-${i}`;
        await retryWrite(`create ${name}`, () => createServiceWithIps(kc, ns, name, [`2001:db8::${(i + 1).toString(16)}`], 'Local'));
        await retryWrite(`endpoints of ${name}`, () => setEndpoints(kc, ns, name, [{ node: a, ready: true }]));
      }
    }),
  );

  // Lease writes per speaker (times seen by the watch) and nodeAssigned Events seen.
  const writes = new Map<string, number[]>();
  const leases = leaseInformer(kc, ns);
  leases.on('update', (l: V1Lease) => {
    const name = l.metadata?.name ?? '';
    if (name.startsWith('herald-speaker-')) writes.set(name, [...(writes.get(name) ?? []), performance.now()]);
  });
  let events = 0;
  const eventInformer = new Informer<KubernetesObject & { reason?: string }>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${ns}/events`,
    decode: decodeObject<KubernetesObject & { reason?: string }>,
    name: 'events',
  });
  eventInformer.on('add', (e) => {
    if (e.reason === 'nodeAssigned') events++;
  });
  await Promise.all([leases.start(), eventInformer.start()]);

  for (const node of [b, c]) speakers.push(startSpeaker(node));
  await Promise.all(speakers.map((s) => s.waitForLog('config', (l) => l.event === 'configLoaded', 120_000)));
  const t0 = performance.now();
  const owner = startSpeaker(a);
  speakers.push(owner);
  await until(`${N} Services announced by A`, () => owner.announced().size === N, 300_000);
  out(`speaker.events.${N}.start.to.announced.seconds`, (performance.now() - t0) / 1000, 1);
  await until(`${N} nodeAssigned Events`, () => events >= N, (N / 5 + 120) * 1000);
  const t1 = performance.now();
  out(`speaker.events.${N}.start.to.all.events.seconds`, (t1 - t0) / 1000, 1);

  // Over the Event window: from A's first Lease write (B and C: from A's start) to the last Event.
  const rates: number[] = [];
  let maxGap = 0;
  for (const sp of speakers) {
    const seen = (writes.get(`herald-speaker-${sp.node}`) ?? []).filter((t) => t >= t0 && t <= t1);
    const from = sp === owner ? (seen[0] ?? t1) : t0;
    rates.push(((seen.length - (sp === owner ? 1 : 0)) * 1000) / Math.max(1, t1 - from));
    for (let i = 1; i < seen.length; i++) maxGap = Math.max(maxGap, seen[i] - seen[i - 1]);
  }
  out(`speaker.events.${N}.lease.writes.per.second.owner`, rates[2]);
  out(`speaker.events.${N}.lease.writes.per.second.min`, Math.min(...rates));
  out(`speaker.events.${N}.lease.write.gap.seconds.max`, maxGap / 1000);
  const fenced = speakers.reduce((n, sp) => n + sp.logs.filter((l) => l.event === 'fenced').length, 0);
  out(`speaker.events.${N}.fenced.episodes.total`, fenced, 0);
  await Promise.all([leases.stop(), eventInformer.stop()]);
} catch (err) {
  for (const sp of speakers) process.stderr.write(`# ${sp.node} last lines:\n${sp.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\n`);
  throw err;
} finally {
  await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
  await own.stop();
}
