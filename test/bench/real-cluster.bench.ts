// Herald on a real Kubernetes 1.20 cluster (test/lab/real/): the figures of issue 11, one per line.
//   real.cluster_start.seconds          nothing -> 3 nodes Ready (binaries and images cached; not part of the next figure)
//   real.first_answer.seconds           `helm install` start -> the first curl answer through a layer2 VIP
//                                       (install --wait, then a 3-replica Deployment + LoadBalancer Service)
//   real.helm_install_wait.seconds      `helm install --wait`
//   real.rss.{speaker,controller}.idle.max_mib / .services.max_mib
//                                       summed VmRSS of the container's processes (read from /proc via the
//                                       container's cgroup on its node), max over the pods; idle = the two
//                                       app Services, then with 1,000 more IPv6 SingleStack LoadBalancer
//                                       Services (layer2 pool many6; ClusterIPs from the IPv6 /112)
//   real.services.{created,with_ip,create.seconds,all_ips.seconds,delete.seconds}
//                                       the 1,000 Services: created (batches of 50, 4 at a time), with an
//                                       address, seconds to create them / until all have an address / to
//                                       delete them all (same batches) until none is left
//   real.helm_upgrade.{seconds,failed_probes,ok_probes}
//                                       `helm upgrade --wait` rolling the speaker DaemonSet (and controllers)
//                                       with curl probes to both VIPs; target 0 failed
//   real.node_failure.l2.{answer,neighbour}.seconds.{median,max}
//                                       whole node (the layer2 owner) killed and its link cut -> the first
//                                       curl answer through the VIP / the client's neighbour entry on another node
//   real.node_failure.bgp.route.seconds.{median,max}
//                                       -> the router's kernel route for the bgp VIP without the dead node
// A dead node cannot be brought back (killNode() kills its containerd and its /run tmpfs with the
// imported images goes with its mount namespace), so a cluster gives NODES - 1 = 2 rounds (the dead
// Node is deleted, as an operator would, and the Deployments reschedule in between); more rounds start
// a fresh cluster. REAL_BENCH_ROUNDS (default 5); ROUTER=frr runs FRR instead of BIRD.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODES, type NodeName } from '../lab/full-lab.js';
import { routerHops } from '../lab/full-router.js';
import { waitForBgpSessions } from '../lab/full-setup.js';
import { eventually } from '../lab/eventually.js';
import { figure, median } from '../lab/full-bench.js';
import { labUnavailableReason } from '../lab/netns.js';
import { helmInstall, helmUpgrade, releaseValues } from '../lab/real/herald-release.js';
import { ensureImages, type RealImages } from '../lab/real/images.js';
import { arpOwner, clientNeighbour, curl, heraldPods, prober } from '../lab/real/probes.js';
import { cgroupHierarchies } from '../lab/real/processes.js';
import { RealCluster } from '../lab/real/real-cluster.js';
import { deployApp, readyPodNodes, serviceManifest } from '../lab/real/workloads.js';

const ROUNDS = Number(process.env.REAL_BENCH_ROUNDS ?? 5);
const SERVICES = 1000;
const NS = 'bench';
const SPEAKER = { gracefulRestart: 30 };
const log = (l: string): void => void process.stderr.write(`${l}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const since = (t0: number): number => (Date.now() - t0) / 1000;

function machine(when: string): void {
  const model = cpus()[0]?.model ?? 'unknown';
  process.stdout.write(`# real-cluster ${when}: ${new Date().toISOString()}, nproc ${cpus().length}, ${model}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
}

interface Vips {
  l2: string;
  bgp: string;
}

/** A cluster with Herald installed and the two apps; `timed` prints the install figures. */
async function clusterWithHerald(images: RealImages, timed: boolean): Promise<{ cluster: RealCluster; vips: Vips }> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-realbench-'));
  const cluster = await RealCluster.start({ prefix: `rb${randomBytes(2).toString('hex')}`, dir, images, log, router: process.env.ROUTER === 'frr' ? 'frr' : 'bird' });
  try {
    if (timed) figure('real.cluster_start.seconds', cluster.startSeconds);
    const t0 = Date.now();
    const install = await helmInstall(cluster, releaseValues(cluster, images.herald.name, { speaker: SPEAKER }));
    await cluster.kubectl(['create', 'namespace', NS]);
    const l2 = await deployApp(cluster, { namespace: NS, name: 'web-l2', image: images.backend.name, replicas: 3, pool: 'lan' });
    await eventually('an answer through the layer2 VIP', () => curl(cluster, l2), 120_000, 100);
    if (timed) {
      figure('real.first_answer.seconds', since(t0));
      figure('real.helm_install_wait.seconds', install);
    }
    await waitForBgpSessions(cluster.lab, 120_000);
    const bgp = await deployApp(cluster, { namespace: NS, name: 'web-bgp', image: images.backend.name, replicas: 3, pool: 'routed' });
    await eventually('an answer through the bgp VIP', () => curl(cluster, bgp), 120_000, 200);
    return { cluster, vips: { l2, bgp } };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** The cgroup directory (memory hierarchy) of a container on a node, found under the node's kubelet cgroup root. */
function containerCgroup(cluster: RealCluster, node: string, containerId: string): string | null {
  const kube = cluster.nodes.get(node as NodeName);
  if (!kube || !containerId || !cgroupHierarchies().includes('memory')) return null;
  const find = (dir: string): string | null => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return null;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e === containerId) return p;
      try {
        if (statSync(p).isDirectory()) {
          const hit = find(p);
          if (hit) return hit;
        }
      } catch {
        /* removed meanwhile */
      }
    }
    return null;
  };
  return find(join('/sys/fs/cgroup/memory', kube.cgroup));
}

/** Summed VmRSS (MiB) of the processes in the container's cgroup. */
function containerRssMib(cgroupDir: string): number {
  let kib = 0;
  for (const pid of readFileSync(join(cgroupDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
    try {
      kib += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* exited meanwhile */
    }
  }
  return kib / 1024;
}

async function rssFigures(cluster: RealCluster, label: string): Promise<void> {
  for (const component of ['speaker', 'controller'] as const) {
    const values: number[] = [];
    for (const pod of await heraldPods(cluster, component)) {
      const dir = containerCgroup(cluster, pod.node, pod.containerId);
      if (dir) values.push(containerRssMib(dir));
    }
    if (values.length === 0) throw new Error(`no ${component} container cgroup found`);
    process.stdout.write(`# real.rss.${component}.${label}: ${values.map((v) => v.toFixed(1)).join(', ')} MiB (${values.length} pods)\n`);
    figure(`real.rss.${component}.${label}.max_mib`, Math.max(...values));
  }
}

const BATCH = 50;
const PARALLEL = 4;

/** Runs `work` over the batches of 0..count-1, PARALLEL batches at a time (the API server is the bottleneck, kubectl's one request at a time per process). */
async function inBatches(count: number, work: (batch: number[]) => Promise<void>): Promise<void> {
  const batches: number[][] = [];
  for (let i = 0; i < count; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => i + k));
  const worker = async (): Promise<void> => {
    for (let b = batches.shift(); b; b = batches.shift()) await work(b);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

/** How many many-* Services exist. */
async function manyCount(cluster: RealCluster): Promise<number> {
  return (await cluster.kubectl(['-n', NS, 'get', 'services', '-l', 'bench=many', '-o', 'name'], undefined, 120_000)).trim().split('\n').filter(Boolean).length;
}

/**
 * `count` IPv6 SingleStack LoadBalancer Services (pool many6, 1,024 addresses; ClusterIPs from the
 * IPv6 /112) in front of web-l2's dual-stack pods, created in batches of 50, 4 batches at a time.
 */
async function manyServices(cluster: RealCluster, count: number): Promise<number> {
  const refusals: string[] = [];
  await inBatches(count, async (b) => {
    const items = b.map((j) => {
      const svc = serviceManifest({ namespace: NS, name: `many-${j}`, app: 'web-l2', pool: 'many6', family: 6 }) as { metadata: Record<string, unknown> };
      svc.metadata.labels = { bench: 'many' };
      return svc;
    });
    await cluster.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), 300_000).catch((err: Error) => void refusals.push(err.message.split('\n').slice(-1)[0]));
  });
  if (refusals.length) process.stdout.write(`# real.services: ${refusals.length} batches refused, the last: ${refusals[refusals.length - 1]}\n`);
  return manyCount(cluster);
}

/** Deletes the many-* Services the same way (1.20 Services have no deletecollection); resolves once they are gone. */
async function deleteManyServices(cluster: RealCluster, count: number): Promise<void> {
  await inBatches(count, async (b) => {
    await cluster.kubectl(['-n', NS, 'delete', 'services', '--ignore-not-found', '--wait=false', ...b.map((j) => `many-${j}`)], undefined, 300_000);
  });
  await eventually('the many-* Services gone', async () => (await manyCount(cluster)) === 0, 600_000, 2000);
}

/** How many of the many-* Services have an ingress IP. */
async function servicesWithIp(cluster: RealCluster): Promise<number> {
  const out = await cluster.kubectl(['-n', NS, 'get', 'services', '-l', 'bench=many', '-o', 'jsonpath={range .items[*]}{.status.loadBalancer.ingress[0].ip}{"\\n"}{end}'], undefined, 120_000);
  return out.split('\n').filter(Boolean).length;
}

interface Round {
  answer: number;
  neighbour: number;
  route: number;
}

/** Kills the layer2 VIP's owner node; times the client's answer, its neighbour entry and the router's route. */
async function failoverRound(cluster: RealCluster, vips: Vips, alive: NodeName[]): Promise<{ round: Round; dead: NodeName }> {
  const all = alive.map((n) => cluster.lab.host(n).ipv4).sort();
  await eventually('the router routing the bgp VIP via every live node', async () => JSON.stringify(await routerHops(cluster.lab, vips.bgp)) === JSON.stringify(all), 120_000, 250);
  const owner = await eventually(
    'a settled layer2 owner (ARP, the client entry, an answer)',
    async () => {
      const o = await arpOwner(cluster, vips.l2);
      return o && (await curl(cluster, vips.l2)) && (await clientNeighbour(cluster, vips.l2)) === o ? o : null;
    },
    120_000,
    300,
  );
  const deadIp = cluster.lab.host(owner).ipv4;
  const t0 = Date.now();
  await cluster.killNode(owner);
  const answer = (async (): Promise<number> => {
    // A curl every 250 ms (1 s each), overlapping: a curl sent into the dead MAC does not hide the next one.
    let at = 0;
    const inflight: Array<Promise<void>> = [];
    while (!at && Date.now() - t0 < 120_000) {
      inflight.push(
        (async () => {
          const r = await cluster.lab.exec('client', 'curl', ['-s', '--max-time', '1', `http://${vips.l2}/`], 5000);
          if (r.code === 0 && r.stdout.startsWith('pod=') && !at) at = Date.now();
        })(),
      );
      await sleep(250);
    }
    await Promise.all(inflight);
    return at ? (at - t0) / 1000 : NaN;
  })();
  const neighbour = (async (): Promise<number> => {
    while (Date.now() - t0 < 120_000) {
      const n = await clientNeighbour(cluster, vips.l2);
      if (n && n !== owner) return since(t0);
      await sleep(100);
    }
    return NaN;
  })();
  const route = (async (): Promise<number> => {
    while (Date.now() - t0 < 180_000) {
      const r = await cluster.lab.exec('router', 'ip', ['route', 'show', `${vips.bgp}/32`], 5000);
      if (r.code === 0 && !r.stdout.includes(deadIp)) return since(t0);
      await sleep(250);
    }
    return NaN;
  })();
  const round = { answer: await answer, neighbour: await neighbour, route: await route };
  process.stdout.write(`# real.node_failure round: ${owner} killed: answer ${round.answer.toFixed(2)} s, neighbour ${round.neighbour.toFixed(2)} s, bgp route ${round.route.toFixed(2)} s\n`);
  return { round, dead: owner };
}

/** After a node died: delete its Node (its pods go, the Deployments reschedule on the live nodes). */
async function recover(cluster: RealCluster, dead: NodeName, alive: NodeName[]): Promise<void> {
  await cluster.kubectl(['delete', 'node', dead]);
  for (const app of ['web-l2', 'web-bgp']) {
    await eventually(`${app}: 3 ready pods on the live nodes`, async () => {
      const nodes = await readyPodNodes(cluster, NS, app);
      return nodes.length === 3 && nodes.every((n) => alive.includes(n));
    }, 240_000, 1000);
  }
}

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== null) {
    if (process.env.CI === 'true') throw new Error(`real-cluster bench cannot run: ${reason}`);
    process.stdout.write(`# real-cluster bench skipped: ${reason}\n`);
    return;
  }
  machine('start');
  const images = await ensureImages(log);
  const rounds: Round[] = [];
  let first = true;
  while (first || rounds.length < ROUNDS) {
    const { cluster, vips } = await clusterWithHerald(images, first);
    try {
      if (first) {
        await sleep(10_000);
        await rssFigures(cluster, 'idle');
        const t0 = Date.now();
        const created = await manyServices(cluster, SERVICES);
        figure('real.services.created', created);
        figure('real.services.create.seconds', since(t0));
        // Every Service gets its address from the controller (the pool holds 1,024).
        let withIp = 0;
        await eventually(`${created} Services with an address`, async () => (withIp = await servicesWithIp(cluster)) >= created, 600_000, 2000).catch(() => undefined);
        figure('real.services.with_ip', withIp);
        figure('real.services.all_ips.seconds', since(t0));
        await sleep(20_000);
        await rssFigures(cluster, 'services');
        const tDelete = Date.now();
        await deleteManyServices(cluster, SERVICES);
        figure('real.services.delete.seconds', since(tDelete));

        await waitForBgpSessions(cluster.lab, 120_000);
        const probe = prober(cluster, [vips.l2, vips.bgp]);
        await sleep(1000);
        const seconds = await helmUpgrade(cluster, releaseValues(cluster, images.herald.name, { speaker: SPEAKER, logLevel: 'debug' }), 'roll');
        await sleep(3000);
        const { ok, failed } = await probe.stop();
        figure('real.helm_upgrade.seconds', seconds);
        figure('real.helm_upgrade.ok_probes', ok);
        figure('real.helm_upgrade.failed_probes', failed.length);
        if (failed.length) process.stdout.write(`# real.helm_upgrade failed probes: ${failed.join(', ')}\n`);
        first = false;
      }
      const alive: NodeName[] = [...NODES];
      while (alive.length > 1 && rounds.length < ROUNDS) {
        const { round, dead } = await failoverRound(cluster, vips, alive);
        rounds.push(round);
        alive.splice(alive.indexOf(dead), 1);
        if (alive.length > 1 && rounds.length < ROUNDS) await recover(cluster, dead, alive);
      }
    } finally {
      await cluster.stop();
    }
  }
  const stat = (name: string, xs: number[]): void => {
    const ok = xs.filter((x) => Number.isFinite(x));
    if (ok.length < xs.length) process.stdout.write(`# ${name}: ${xs.length - ok.length} of ${xs.length} rounds never got there\n`);
    if (ok.length === 0) return;
    figure(`${name}.median`, median(ok));
    figure(`${name}.max`, Math.max(...ok));
  };
  figure('real.node_failure.rounds', rounds.length);
  stat('real.node_failure.l2.answer.seconds', rounds.map((r) => r.answer));
  stat('real.node_failure.l2.neighbour.seconds', rounds.map((r) => r.neighbour));
  stat('real.node_failure.bgp.route.seconds', rounds.map((r) => r.route));
  machine('end');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`real-cluster bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
