// Herald on a real Kubernetes 1.20 cluster (real-cluster.ts): installed with real helm from the
// repository's chart and the image built from the repository's Dockerfile; real pods from a
// Deployment behind LoadBalancer Services; the client reaches them through the VIP via the nodes'
// kube-proxy (iptables). One cluster for the whole file: starting one costs ~40 s plus the install.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NODES, type NodeName } from '../full-lab.js';
import { routerHops } from '../full-router.js';
import { waitForBgpSessions } from '../full-setup.js';
import { eventually } from '../eventually.js';
import { describeLab } from '../netns.js';
import { ensureImages, type RealImages } from './images.js';
import { HERALD_NAMESPACE, helmInstall, releaseValues } from './herald-release.js';
import { RealCluster } from './real-cluster.js';
import { deployApp } from './workloads.js';

const NS = 'apps';
const figures: Record<string, number> = {};

function figure(name: string, value: number): void {
  figures[name] = value;
  process.stdout.write(`real cluster figure: ${name} = ${value.toFixed(1)}\n`);
}

describeLab('real cluster: Herald installed with helm, traffic through kube-proxy to real pods', () => {
  let cluster: RealCluster;
  let images: RealImages;

  /** Every MAC that answers one or two ARP requests from the client for `vip` (normally exactly one). */
  async function arpMacs(vip: string): Promise<string[]> {
    const r = await cluster.lab.exec('client', 'arping', ['-c', '2', '-w', '3', '-I', 'eth0', vip], 8000);
    return [...new Set([...r.stdout.matchAll(/reply from \S+ \[([0-9a-f:]{17})\]/gi)].map((m) => m[1].toLowerCase()))];
  }

  function nodeOfMac(mac: string): NodeName | undefined {
    return NODES.find((n) => cluster.lab.host(n).mac.toLowerCase() === mac);
  }

  /** One GET from the client: the backend's "pod=<pod> node=<node>" or null. */
  async function curl(vip: string): Promise<string | null> {
    const r = await cluster.lab.exec('client', 'curl', ['-s', '--max-time', '2', `http://${vip}/`], 5000);
    return r.code === 0 && r.stdout.startsWith('pod=') ? r.stdout.trim() : null;
  }

  beforeAll(async () => {
    const log = (l: string): void => void process.stderr.write(`${l}\n`);
    const t0 = Date.now();
    images = await ensureImages(log);
    const dir = mkdtempSync(join(tmpdir(), 'herald-real-'));
    cluster = await RealCluster.start({ prefix: `hr${randomBytes(2).toString('hex')}`, dir, images, log });
    figure('cluster start (s)', cluster.startSeconds);
    figure('helm install --wait (s)', await helmInstall(cluster, releaseValues(cluster, images.herald.name, { speaker: { gracefulRestart: 60 } })));
    await cluster.kubectl(['create', 'namespace', NS]);
    figure('images + cluster + install (s)', (Date.now() - t0) / 1000);
  }, 1_800_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('helm install: two controller replicas and one speaker per node, all ready', async () => {
    const out = await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{"\\n"}{end}']);
    const pods = out.trim().split('\n').map((l) => l.split(' '));
    const speakers = pods.filter(([name]) => name.includes('speaker'));
    expect(speakers.map(([, node]) => node).sort()).toEqual([...NODES]);
    expect(pods.filter(([name]) => name.includes('controller'))).toHaveLength(2);
    expect(pods.every(([, , phase]) => phase === 'Running')).toBe(true);
  });

  it('layer2: exactly one node answers ARP for the VIP, and the client reaches the pods through it', async () => {
    const t0 = Date.now();
    const vip = await deployApp(cluster, { namespace: NS, name: 'web-l2', image: images.backend.name, replicas: 3, pool: 'lan' });
    expect(vip).toMatch(/^192\.0\.2\.20\d$/);
    const first = await eventually('an answer through the layer2 VIP', () => curl(vip), 60_000, 200);
    figure('deploy + first answer through a layer2 VIP (s)', (Date.now() - t0) / 1000);
    expect(first).toMatch(/^pod=web-l2-\S+ node=node[123]$/);
    const macs = await arpMacs(vip);
    expect(macs).toHaveLength(1);
    expect(nodeOfMac(macs[0])).toBeDefined();
    // kube-proxy spreads the connections over the three pods (Cluster policy).
    const pods = new Set<string>();
    for (let i = 0; i < 30 && pods.size < 2; i++) pods.add((await curl(vip)) ?? '');
    expect(pods.size).toBeGreaterThan(1);
  });

  it('bgp: every node announces the VIP, the router holds an ECMP route via the nodes, curl answers', async () => {
    await waitForBgpSessions(cluster.lab, 60_000);
    const vip = await deployApp(cluster, { namespace: NS, name: 'web-bgp', image: images.backend.name, replicas: 3, pool: 'routed' });
    expect(vip).toMatch(/^203\.0\.113\.1\d$/);
    const all = NODES.map((n) => cluster.lab.host(n).ipv4).sort();
    await eventually('ECMP route via all three nodes', async () => JSON.stringify(await routerHops(cluster.lab, vip)) === JSON.stringify(all), 60_000, 250);
    const kernel = await cluster.lab.mustExec('router', 'ip', ['route', 'show', `${vip}/32`]);
    for (const a of all) expect(kernel).toContain(a);
    expect(await eventually('an answer through the bgp VIP', () => curl(vip), 30_000, 200)).toMatch(/^pod=web-bgp-\S+ node=node[123]$/);
  });
});
