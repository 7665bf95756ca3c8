// Herald on a real Kubernetes 1.20 cluster (real-cluster.ts): installed with real helm from the
// repository's chart and the image built from the repository's Dockerfile; real pods from a
// Deployment behind LoadBalancer Services; the client reaches them through the VIP via the nodes'
// kube-proxy (iptables). One cluster for the whole file: starting one costs ~40 s plus the install.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NODES, type NodeName } from '../full-lab.js';
import { restartRouter, routerHops, routerSessions, stopRouter } from '../full-router.js';
import { waitForBgpSessions } from '../full-setup.js';
import { eventually } from '../eventually.js';
import { describeLab } from '../netns.js';
import { ensureImages, type RealImages } from './images.js';
import { CHART, HERALD_NAMESPACE, RELEASE, configInline, helm, helmInstall, helmUninstall, helmUpgrade, releaseValues, valuesFile } from './herald-release.js';
import { RealCluster } from './real-cluster.js';
import * as probes from './probes.js';
import { deployApp, readyPodNodes, serviceManifest, waitForIngresses } from './workloads.js';

const NS = 'apps';
/** The speakers' Lease timing with liveness on (the chart's default): renew 10 s, duration 30 s. */
const SPEAKER_LEASE_RENEW_S = 10;
const SPEAKER_LEASE_DURATION_S = 30;
const figures: Record<string, number> = {};

function figure(name: string, value: number): void {
  figures[name] = value;
  process.stdout.write(`real cluster figure: ${name} = ${value.toFixed(1)}\n`);
}

/**
 * Install values: BGP graceful restart long enough to span a speaker pod's restart, and the values an
 * operator sets (issue 11.6) so the install proves them: priority classes, pod labels and annotations,
 * the release namespace with its Pod Security labels. Every upgrade passes them again (an upgrade
 * takes only the values it is given: leaving one out would roll the pods).
 */
const SPEAKER = { gracefulRestart: 30, priorityClassName: 'system-node-critical', podLabels: { team: 'network' }, podAnnotations: { 'example.org/owner': 'network' } };
const BASE = {
  namespaceObject: true,
  speaker: SPEAKER,
  controller: { priorityClassName: 'system-cluster-critical', podLabels: { team: 'network' } },
};

describeLab('real cluster: Herald installed with helm, traffic through kube-proxy to real pods', () => {
  let cluster: RealCluster;
  let images: RealImages;

  const arpMacs = (vip: string): Promise<string[]> => probes.arpMacs(cluster, vip);
  const nodeOfMac = (mac: string): NodeName | undefined => probes.nodeOfMac(cluster, mac);
  const curl = (vip: string): Promise<string | null> => probes.curl(cluster, vip);
  const arpOwner = (vip: string): Promise<NodeName | null> => probes.arpOwner(cluster, vip);
  const prober = (v: string[]): ReturnType<typeof probes.prober> => probes.prober(cluster, v);
  const speakerPods = (): ReturnType<typeof probes.speakerPods> => probes.speakerPods(cluster);
  const ipOf = (n: NodeName): string => cluster.lab.host(n).ipv4;

  const vips: Record<'l2' | 'bgp', string> = { l2: '', bgp: '' };

  /** Every Service in NS with its ingress IPs ("" while it has none). */
  const lbStatuses = async (): Promise<Record<string, string>> => {
    const out = await cluster.kubectl(['-n', NS, 'get', 'services', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.loadBalancer.ingress[*].ip}{"\\n"}{end}']);
    return Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => l.split('=') as [string, string]));
  };
  /** Services of `before` still there in `after` whose addresses changed (Services being deleted may be gone: no change). */
  const changed = (before: Record<string, string>, after: Record<string, string>): string[] =>
    Object.keys(before).filter((n) => n in after && after[n] !== before[n]).map((n) => `${n}: ${before[n]} -> ${after[n]}`);
  /** A Herald pod's log lines (JSON) with this event, at or after `since` (ms). */
  const podEvents = async (pod: string, event: string, since: number): Promise<Array<Record<string, unknown>>> => {
    const out = await cluster.kubectl(['-n', HERALD_NAMESPACE, 'logs', pod], undefined, 30_000).catch(() => '');
    return out
      .split('\n')
      .filter((l) => l.includes(`"event":"${event}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => Date.parse(String(e.time)) >= since);
  };
  const leaderHolder = async (): Promise<string> => (await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'lease', 'herald-controller', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
  let deadNode: NodeName | undefined;

  beforeAll(async () => {
    const log = (l: string): void => void process.stderr.write(`${l}\n`);
    const t0 = Date.now();
    images = await ensureImages(log);
    const dir = mkdtempSync(join(tmpdir(), 'herald-real-'));
    cluster = await RealCluster.start({ prefix: `hr${randomBytes(2).toString('hex')}`, dir, images, log, router: process.env.ROUTER === 'frr' ? 'frr' : 'bird' });
    figure('cluster start (s)', cluster.startSeconds);
    figure('helm install --wait (s)', await helmInstall(cluster, releaseValues(cluster, images.herald.name, BASE)));
    await cluster.kubectl(['create', 'namespace', NS]);
    figure('images + cluster + install (s)', (Date.now() - t0) / 1000);
  }, 1_800_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 300_000);

  it('helm install: two controller replicas and one speaker per node, all ready', async () => {
    const out = await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{"\\n"}{end}']);
    const pods = out.trim().split('\n').map((l) => l.split(' '));
    const speakers = pods.filter(([name]) => name.includes('speaker'));
    expect(speakers.map(([, node]) => node).sort()).toEqual([...NODES]);
    expect(pods.filter(([name]) => name.includes('controller'))).toHaveLength(2);
    expect(pods.every(([, , phase]) => phase === 'Running')).toBe(true);
  });

  it('helm install: the operator values reach the cluster (priority classes, pod labels, PDB, controller anti-affinity, namespace labels, liveness with its Lease timing)', async () => {
    const get = (what: string[], path: string): Promise<string> => cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', ...what, '-o', `jsonpath=${path}`]);
    const podLine = '{range .items[*]}{.spec.priorityClassName} {.spec.priority} {.metadata.labels.team} {.spec.nodeName}{"\\n"}{end}';
    const speakers = (await get(['pods', '-l', 'app.kubernetes.io/component=speaker'], podLine)).trim().split('\n');
    expect(speakers).toHaveLength(NODES.length);
    // The API server's Priority admission resolved the class to its value: the class exists and applies.
    for (const l of speakers) expect(l).toMatch(/^system-node-critical 2000001000 network node[123]$/);
    expect(await get(['daemonset', 'herald-speaker'], '{.spec.template.metadata.annotations.example\\.org/owner}')).toBe('network');
    const controllers = (await get(['pods', '-l', 'app.kubernetes.io/component=controller'], podLine)).trim().split('\n');
    for (const l of controllers) expect(l).toMatch(/^system-cluster-critical 2000000000 network node[123]$/);
    // Preferred anti-affinity by hostname: the two replicas on two nodes.
    expect(new Set(controllers.map((l) => l.split(' ')[3])).size).toBe(2);
    // 1.20 serves policy/v1beta1; the disruption controller counts the two healthy controllers.
    expect(await get(['poddisruptionbudget', 'herald-controller'], '{.apiVersion} {.spec.minAvailable}')).toBe('policy/v1beta1 1');
    await eventually('the PDB counting 2 healthy controllers, 1 disruption allowed', async () => (await get(['poddisruptionbudget', 'herald-controller'], '{.status.currentHealthy} {.status.disruptionsAllowed}')) === '2 1', 30_000, 500);
    expect(await cluster.kubectl(['get', 'namespace', HERALD_NAMESPACE, '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}'])).toBe('privileged');
    // Liveness on by default: its Secret, and each speaker's Lease at the liveness default (30 s).
    expect(await get(['secret', 'herald-liveness'], '{.type}')).toBe('Opaque');
    // The Lease also publishes where the speaker's liveness listens: the node's IP (status.hostIP), UDP 7947.
    const leases = await get(['leases', '-l', 'app.kubernetes.io/component=herald-speaker'], '{range .items[*]}{.metadata.name} {.spec.leaseDurationSeconds} {.metadata.annotations.herald\\.io/liveness}{"\\n"}{end}');
    expect(leases.trim().split('\n').sort()).toEqual(NODES.map((n) => `herald-speaker-${n} 30 ${ipOf(n)}:7947`));
  });

  it('layer2: exactly one node answers ARP for the VIP, and the client reaches the pods through it', async () => {
    const t0 = Date.now();
    const vip = await deployApp(cluster, { namespace: NS, name: 'web-l2', image: images.backend.name, replicas: 3, pool: 'lan' });
    vips.l2 = vip;
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
    vips.bgp = vip;
    expect(vip).toMatch(/^203\.0\.113\.1\d$/);
    const all = NODES.map((n) => cluster.lab.host(n).ipv4).sort();
    await eventually('ECMP route via all three nodes', async () => JSON.stringify(await routerHops(cluster.lab, vip)) === JSON.stringify(all), 60_000, 250);
    const kernel = await cluster.lab.mustExec('router', 'ip', ['route', 'show', `${vip}/32`]);
    for (const a of all) expect(kernel).toContain(a);
    expect(await eventually('an answer through the bgp VIP', () => curl(vip), 30_000, 200)).toMatch(/^pod=web-bgp-\S+ node=node[123]$/);
  });

  it('externalTrafficPolicy Local: only nodes with a ready pod announce, answers come from a local pod, scaling moves the announcements', async () => {
    const app = 'web-local';
    const vip = await deployApp(cluster, { namespace: NS, name: app, image: images.backend.name, replicas: 1, pool: 'routed', policy: 'Local' });
    const expectHops = async (what: string): Promise<NodeName[]> => {
      const nodes = [...new Set(await readyPodNodes(cluster, NS, app))].sort();
      const want = JSON.stringify(nodes.map(ipOf).sort());
      await eventually(`router hops = the nodes with a ready pod (${what}: ${nodes.join(', ')})`, async () => JSON.stringify(await routerHops(cluster.lab, vip)) === want, 60_000, 250);
      return nodes;
    };
    const one = await expectHops('1 replica');
    expect(one).toHaveLength(1);
    for (let i = 0; i < 5; i++) expect(await eventually('an answer', () => curl(vip), 20_000, 200)).toMatch(new RegExp(`node=${one[0]}$`));
    await cluster.kubectl(['-n', NS, 'scale', `deployment/${app}`, '--replicas=3']);
    await cluster.kubectl(['-n', NS, 'rollout', 'status', `deployment/${app}`, '--timeout=120s'], undefined, 130_000);
    const three = await expectHops('3 replicas');
    expect(three.length).toBeGreaterThan(1);
    for (let i = 0; i < 5; i++) expect((await eventually('an answer', () => curl(vip), 20_000, 200))?.split('node=')[1]).toBeOneOf(three);
    await cluster.kubectl(['-n', NS, 'scale', `deployment/${app}`, '--replicas=1']);
    await eventually('one ready pod left', async () => (await readyPodNodes(cluster, NS, app)).length === 1, 60_000, 300);
    expect(await expectHops('scaled back to 1')).toHaveLength(1);

    // layer2 with Local: the one answering node is the pod's node, and so is the answer.
    const l2 = await deployApp(cluster, { namespace: NS, name: 'web-local-l2', image: images.backend.name, replicas: 1, pool: 'lan', policy: 'Local' });
    const [podNode] = await readyPodNodes(cluster, NS, 'web-local-l2');
    expect(await eventually('the pod node answering ARP', async () => (await arpOwner(l2)) === podNode, 30_000, 300)).toBe(true);
    expect(await eventually('an answer', () => curl(l2), 20_000, 200)).toMatch(new RegExp(`node=${podNode}$`));
    await cluster.kubectl(['-n', NS, 'delete', 'deployment,service', 'web-local', 'web-local-l2', '--wait=false']);
  });

  it('IPv6 layer2 (SingleStack IPv6): one node answers NDP for the VIP, the client reaches dual-stack pods with curl -6', async () => {
    // Pods with an address of each family (the CNI's two ranges), reported by the 1.20 kubelet in podIPs.
    await deployApp(cluster, { namespace: NS, name: 'web6', image: images.backend.name, replicas: 3, pool: 'lan6', family: 6 });
    const podIps = await cluster.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=web6', '-o', 'jsonpath={range .items[*]}{.status.podIPs[*].ip}{"\\n"}{end}']);
    for (const line of podIps.trim().split('\n')) expect(line).toMatch(/^198\.51\.100\.\d+ 2001:db8:10:[123]::[0-9a-f]+$/);
    const [vip] = await waitForIngresses(cluster, NS, 'web6', 1);
    expect(vip).toMatch(/^2001:db8:0:1::20[0-9]$/);
    // The ClusterIP comes from the IPv6 Service range: the API server runs dual stack.
    expect(await cluster.kubectl(['-n', NS, 'get', 'service', 'web6', '-o', 'jsonpath={.spec.clusterIPs[*]}'])).toMatch(/^2001:db8:20::[0-9a-f]+$/);
    const owner = await eventually('exactly one node answering NDP', () => probes.ndpOwner(cluster, vip), 60_000, 300);
    expect(await probes.ndpMacs(cluster, vip)).toHaveLength(1);
    expect(await eventually('an answer through the IPv6 layer2 VIP (curl -6)', () => curl(vip), 60_000, 200)).toMatch(/^pod=web6-\S+ node=node[123]$/);
    // The client's neighbour entry for the VIP is the owner's MAC (ip -6 neigh).
    expect(await probes.clientNeighbour(cluster, vip)).toBe(owner);
    // kube-proxy's ip6tables rules spread the connections over the pods.
    const pods = new Set<string>();
    for (let i = 0; i < 30 && pods.size < 2; i++) pods.add((await curl(vip)) ?? '');
    expect(pods.size).toBeGreaterThan(1);
  });

  it('dual-stack bgp (RequireDualStack): the router holds the /32 and the /128 ECMP via all nodes, curl answers over both families', async () => {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(serviceManifest({ namespace: NS, name: 'web-dual', app: 'web6', pool: 'routed-dual', family: 'dual' })));
    const ips = await waitForIngresses(cluster, NS, 'web-dual', 2);
    const v4 = ips.find((ip) => !ip.includes(':'))!;
    const v6 = ips.find((ip) => ip.includes(':'))!;
    expect(v4).toMatch(/^203\.0\.113\.2\d$/);
    expect(v6).toMatch(/^2001:db8:203::2[0-9a-f]$/);
    expect(await cluster.kubectl(['-n', NS, 'get', 'service', 'web-dual', '-o', 'jsonpath={.spec.ipFamilies[*]} {.spec.ipFamilyPolicy}'])).toBe('IPv4 IPv6 RequireDualStack');
    await eventually("every node's IPv6 BGP session Established", async () => [...(await routerSessions(cluster.lab, 6)).values()].every((st) => st === 'Established'), 60_000, 500);
    const hops4 = NODES.map((n) => cluster.lab.host(n).ipv4).sort();
    const hops6 = NODES.map((n) => cluster.lab.host(n).ipv6).sort();
    await eventually('the /32 ECMP via all three nodes', async () => JSON.stringify(await routerHops(cluster.lab, v4)) === JSON.stringify(hops4), 60_000, 250);
    await eventually('the /128 ECMP via all three nodes', async () => JSON.stringify(await routerHops(cluster.lab, v6)) === JSON.stringify(hops6), 60_000, 250);
    // BIRD's kernel protocol put both into the router's tables.
    const k4 = await cluster.lab.mustExec('router', 'ip', ['-4', 'route', 'show', `${v4}/32`]);
    const k6 = await cluster.lab.mustExec('router', 'ip', ['-6', 'route', 'show', `${v6}/128`]);
    for (const a of hops4) expect(k4).toContain(a);
    for (const a of hops6) expect(k6).toContain(a);
    expect(await eventually('an answer over IPv4', () => curl(v4), 30_000, 200)).toMatch(/^pod=web6-\S+ node=node[123]$/);
    expect(await eventually('an answer over IPv6 (curl -6)', () => curl(v6), 30_000, 200)).toMatch(/^pod=web6-\S+ node=node[123]$/);
  });

  it('dual-stack layer2 (RequireDualStack): ARP and NDP name the same single node, curl answers over both families', async () => {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(serviceManifest({ namespace: NS, name: 'web-l2dual', app: 'web6', pool: 'lan-dual', family: 'dual' })));
    const ips = await waitForIngresses(cluster, NS, 'web-l2dual', 2);
    const v4 = ips.find((ip) => !ip.includes(':'))!;
    const v6 = ips.find((ip) => ip.includes(':'))!;
    expect(v4).toMatch(/^192\.0\.2\.21\d$/);
    expect(v6).toMatch(/^2001:db8:0:1::21[0-9]$/);
    const owner = await eventually('exactly one node answering ARP', () => arpOwner(v4), 60_000, 300);
    // One owner per Service: the same node answers NDP for the IPv6 address.
    expect(await eventually('the same node answering NDP', async () => (await probes.ndpOwner(cluster, v6)) === owner, 30_000, 300)).toBe(true);
    expect(await probes.ndpMacs(cluster, v6)).toHaveLength(1);
    expect(await eventually('an answer over IPv4', () => curl(v4), 30_000, 200)).toMatch(/^pod=web6-\S+ node=node[123]$/);
    expect(await eventually('an answer over IPv6 (curl -6)', () => curl(v6), 30_000, 200)).toMatch(/^pod=web6-\S+ node=node[123]$/);
    await cluster.kubectl(['-n', NS, 'delete', 'deployment,service', 'web6', 'web-dual', 'web-l2dual', '--ignore-not-found', '--wait=false']);
  });

  it('router restart: BIRD (or FRR) killed and started again; the sessions come back, the ECMP route and curl answers return', async () => {
    const vip = vips.bgp;
    const all = NODES.map(ipOf).sort();
    const t0 = Date.now();
    await stopRouter(cluster.lab, 'SIGKILL');
    await restartRouter(cluster.lab);
    const tStarted = Date.now();
    await waitForBgpSessions(cluster.lab, 60_000);
    figure('router restart: sessions back after its start (s)', (Date.now() - tStarted) / 1000);
    await eventually('ECMP route via all three nodes again', async () => JSON.stringify(await routerHops(cluster.lab, vip)) === JSON.stringify(all), 60_000, 250);
    figure('router restart: ECMP route back after its start (s)', (Date.now() - tStarted) / 1000);
    // The router's kernel follows its RIB a moment later (FRR's zebra installs the first path, then the ECMP set).
    await eventually("the router's kernel route via all three nodes again", async () => {
      const kernel = await cluster.lab.mustExec('router', 'ip', ['route', 'show', `${vip}/32`]);
      return all.every((a) => kernel.includes(a));
    }, 30_000, 250);
    expect(await eventually('an answer through the bgp VIP', () => curl(vip), 30_000, 200)).toMatch(/^pod=web-bgp-\S+ node=node[123]$/);
    figure('router restart: killed -> curl answers through the bgp VIP (s)', (Date.now() - t0) / 1000);
  });

  it("deleting the owner's speaker pod: the VIP moves within the Lease timing, the DaemonSet recreates the pod, the VIP stays put (no flap back)", async () => {
    const vip = vips.l2;
    const owner = await eventually('an ARP owner', () => arpOwner(vip), 20_000, 300);
    const pod = (await speakerPods()).find((p) => p.node === owner)!;
    const t0 = Date.now();
    await cluster.kubectl(['-n', HERALD_NAMESPACE, 'delete', 'pod', pod.name, '--wait=false']);
    const interim = await eventually('the VIP on another node', async () => {
      const o = await arpOwner(vip);
      return o !== null && o !== owner ? o : null;
    }, 30_000, 100);
    const moved = (Date.now() - t0) / 1000;
    figure('speaker pod deleted: layer2 VIP moved (s)', moved);
    await eventually('a new ready speaker pod on the node', async () => (await speakerPods()).some((p) => p.node === owner && p.name !== pod.name && p.ready), 120_000, 500);
    figure('speaker pod deleted: replacement pod ready (s)', (Date.now() - t0) / 1000);
    // The returning speaker joined after the Service was created: the interim owner keeps the VIP.
    for (let i = 0; i < 5; i++) {
      expect(await arpOwner(vip)).toBe(interim);
      await new Promise((r) => setTimeout(r, 1000));
    }
    // Graceful: the Lease is deleted on SIGTERM, so the move waits for neither liveness nor the Lease duration (30 s with liveness).
    expect(moved).toBeLessThan(15);
    expect(await curl(vip)).not.toBeNull();
  });

  it("the owner's speaker process SIGKILLed (a crash): the VIP moves, the client's neighbour entry follows, kubelet restarts the container", async () => {
    const vip = vips.l2;
    const owner = await eventually('an ARP owner', () => arpOwner(vip), 20_000, 300);
    const pod = (await speakerPods()).find((p) => p.node === owner && p.ready)!;
    expect(pod.containerId).not.toBe('');
    const t0 = Date.now();
    // containerd's own client on the node: SIGKILL to the container's init process (node), no shutdown code runs.
    await cluster.nodes.get(owner)!.exec(['ctr', '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', pod.containerId], 10_000);
    const next = await eventually('the VIP on another node', async () => {
      const o = await arpOwner(vip);
      return o !== null && o !== owner ? o : null;
    }, 30_000, 100);
    figure('speaker SIGKILL: layer2 VIP moved (s)', (Date.now() - t0) / 1000);
    await eventually('an answer through the layer2 VIP', () => curl(vip), 30_000, 200);
    figure('speaker SIGKILL: first answer through the layer2 VIP (s)', (Date.now() - t0) / 1000);
    expect(await eventually("the client's neighbour entry on the new owner", async () => (await probes.clientNeighbour(cluster, vip)) === next, 30_000, 200)).toBe(true);
    // The same pod, its container restarted by the kubelet, ready again.
    await eventually('the speaker container restarted and ready', async () => {
      const restarts = await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pod', pod.name, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']);
      return Number(restarts) >= 1 && (await speakerPods()).some((p) => p.name === pod.name && p.ready);
    }, 120_000, 500);
    figure('speaker SIGKILL: container restarted and ready (s)', (Date.now() - t0) / 1000);
  });

  it('kube-apiserver restarted (its process stopped and started again by pid): the speakers keep answering (no fencing within the 30 s Lease), BGP stays, the controller resumes, a new Service gets an IP, no address changes', async () => {
    await waitForBgpSessions(cluster.lab, 60_000);
    const before = await lbStatuses();
    const owner = await eventually('an ARP owner', () => arpOwner(vips.l2), 20_000, 300);
    const ownerMac = cluster.lab.host(owner).mac.toLowerCase();
    const speakers = await speakerPods();
    const controllers = await probes.heraldPods(cluster, 'controller');
    const probe = prober([vips.l2, vips.bgp]);
    // ARP for the layer2 VIP throughout: who answers, and when (arping waits up to 3 s when nobody does).
    const arp: Array<{ t: number; end: number; macs: string[] }> = [];
    let watching = true;
    const watcher = (async (): Promise<void> => {
      while (watching) {
        const t = Date.now();
        const macs = await arpMacs(vips.l2);
        arp.push({ t, end: Date.now(), macs });
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    const tStop = Date.now();
    const how = await cluster.stopApiserver();
    const tDown = Date.now();
    await cluster.startApiserver();
    const tUp = Date.now();
    figure('kube-apiserver restart: stopped (s)', (tDown - tStop) / 1000);
    figure('kube-apiserver restart: stop -> ready again (s)', (tUp - tStop) / 1000);
    process.stdout.write(`kube-apiserver stopped by ${how}\n`);
    // The controller resumes: a Service created now gets an address (and is routed: curl answers).
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(serviceManifest({ namespace: NS, name: 'after-apiserver', app: 'web-bgp', pool: 'routed' })), 60_000);
    const [fresh] = await waitForIngresses(cluster, NS, 'after-apiserver', 1, 120_000);
    figure('kube-apiserver restart: ready -> new Service has its IP (s)', (Date.now() - tUp) / 1000);
    expect(await eventually('an answer through the new Service', () => curl(fresh), 60_000, 200)).toMatch(/^pod=web-bgp-\S+ node=node[123]$/);
    await new Promise((r) => setTimeout(r, 2000));
    watching = false;
    await watcher;
    const { ok, failed } = await probe.stop();
    const after = await lbStatuses();
    figure('kube-apiserver restart: failed curl probes', failed.length);

    // What the speakers logged meanwhile.
    const fenced: Array<{ node: string; at: number }> = [];
    const unfenced: Array<{ node: string; at: number }> = [];
    const claims: Array<{ node: string; at: number }> = [];
    for (const p of speakers) {
      for (const e of await podEvents(p.name, 'fenced', tStop)) fenced.push({ node: p.node, at: Date.parse(String(e.time)) });
      for (const e of await podEvents(p.name, 'unfenced', tStop)) unfenced.push({ node: p.node, at: Date.parse(String(e.time)) });
      for (const e of await podEvents(p.name, 'nodeAssigned', tStop)) if (/web-l2"/.test(JSON.stringify(e))) claims.push({ node: p.node, at: Date.parse(String(e.time)) });
    }
    const stoppedLeading: string[] = [];
    for (const c of controllers) for (const e of await podEvents(c.name, 'stoppedLeading', tStop)) stoppedLeading.push(`${c.name}: ${String(e.reason)}`);
    const rel = (xs: Array<{ node: string; at: number }>): string => xs.map((x) => `${x.node} +${((x.at - tStop) / 1000).toFixed(1)} s`).join(', ') || 'none';
    const macNode = (m: string): string => nodeOfMac(m) ?? m;
    const arpRuns: string[] = [];
    for (const a of arp) {
      const who = a.macs.map(macNode).join('+') || 'silent';
      const last = arpRuns[arpRuns.length - 1];
      if (!last?.startsWith(`${who} `)) arpRuns.push(`${who} from +${((a.t - tStop) / 1000).toFixed(1)} s`);
    }
    const ownerFence = fenced.find((f) => f.node === owner)?.at;
    process.stdout.write(
      `kube-apiserver restart (owner ${owner}): fenced ${rel(fenced)}; unfenced ${rel(unfenced)}; web-l2 claimed ${rel(claims)}; ARP ${arpRuns.join(', ')}; ` +
        `controllers stopped leading: ${stoppedLeading.join('; ') || 'none'}; leader now ${await leaderHolder()}\n`,
    );
    figure('kube-apiserver restart: speakers fenced', new Set(fenced.map((f) => f.node)).size);
    // The rule (README, "During an API server outage", with liveness): a speaker fences itself a Lease
    // duration after the send time of its last successful renewal, at most one renew period before the stop.
    for (const f of fenced) expect(f.at - tStop, `${f.node} fenced too early`).toBeGreaterThanOrEqual((SPEAKER_LEASE_DURATION_S - SPEAKER_LEASE_RENEW_S - 1) * 1000);
    // Never two nodes answering at once.
    expect(arp.filter((a) => a.macs.length > 1).map((a) => new Date(a.t).toISOString())).toEqual([]);
    if (ownerFence === undefined) {
      // The owner did not fence: it answered throughout, nobody else claimed, not one probe failed.
      expect(claims.filter((c) => c.node !== owner), 'web-l2 claimed by a non-owner').toEqual([]);
      expect(arp.filter((a) => a.macs.length !== 1 || a.macs[0] !== ownerMac).map((a) => new Date(a.t).toISOString()), 'ARP not answered by the owner').toEqual([]);
      expect(failed).toEqual([]);
    } else {
      // The owner fenced (the outage outlasted its Lease): it came back as a new life, so another
      // node may take the VIP (no flap back); nobody else answered before the owner fenced.
      expect(claims.filter((c) => c.node !== owner && c.at < ownerFence), 'web-l2 claimed by a non-owner before the owner fenced').toEqual([]);
      expect(arp.filter((a) => a.end < ownerFence && a.macs.some((m) => m !== ownerMac)).map((a) => new Date(a.t).toISOString())).toEqual([]);
      expect(failed.filter((f) => !f.startsWith(vips.l2))).toEqual([]);
      expect(await eventually('exactly one node answering ARP for the layer2 VIP', () => arpOwner(vips.l2), 30_000, 300)).not.toBeNull();
      expect(await eventually('an answer through the layer2 VIP', () => curl(vips.l2), 30_000, 200)).not.toBeNull();
    }
    expect(ok).toBeGreaterThan(10);
    // No address changed; the new Service's is new.
    expect(changed(before, after)).toEqual([]);
    expect(Object.values(before).join(' ').split(' ')).not.toContain(fresh);
    await cluster.kubectl(['-n', NS, 'delete', 'service', 'after-apiserver', '--wait=false']);
  }, 300_000);

  it('the leader controller SIGKILLed (a crash): a controller leads again, a Service created at once gets an IP, no address changes, traffic unaffected', async () => {
    const before = await lbStatuses();
    const holder = await leaderHolder();
    const leader = (await probes.heraldPods(cluster, 'controller')).find((p) => p.name === holder && p.ready);
    expect(leader, `the leader ${holder} among the ready controller pods`).toBeDefined();
    const restartsBefore = Number(await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pod', leader!.name, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']));
    const probe = prober([vips.l2, vips.bgp]);
    const t0 = Date.now();
    // containerd's client on the leader's node: SIGKILL to the container's init process, no shutdown code runs (the Lease is not released).
    await cluster.nodes.get(leader!.node as NodeName)!.exec(['ctr', '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', leader!.containerId], 10_000);
    // Created at once: only a controller that leads after the kill can give it an address.
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(serviceManifest({ namespace: NS, name: 'after-controller-kill', app: 'web-bgp', pool: 'routed' })));
    const [fresh] = await waitForIngresses(cluster, NS, 'after-controller-kill', 1, 120_000);
    figure('controller SIGKILL: a Service created at the kill has its IP (s)', (Date.now() - t0) / 1000);
    const newHolder = await leaderHolder();
    // Either the standby (after the Lease's 15 s) or the killed pod's restarted container (same identity) took over first.
    process.stdout.write(`controller SIGKILL: leader was ${holder}, now ${newHolder}\n`);
    expect(await eventually('an answer through the new Service', () => curl(fresh), 60_000, 200)).toMatch(/^pod=web-bgp-\S+ node=node[123]$/);
    await eventually('the killed controller container restarted and ready', async () => {
      const restarts = Number(await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pod', leader!.name, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']));
      return restarts > restartsBefore && (await probes.heraldPods(cluster, 'controller')).some((p) => p.name === leader!.name && p.ready);
    }, 120_000, 500);
    figure('controller SIGKILL: container restarted and ready (s)', (Date.now() - t0) / 1000);
    const { ok, failed } = await probe.stop();
    expect(changed(before, await lbStatuses())).toEqual([]);
    expect(Object.values(before).join(' ').split(' ')).not.toContain(fresh);
    expect(ok).toBeGreaterThan(10);
    expect(failed).toEqual([]);
    await cluster.kubectl(['-n', NS, 'delete', 'service', 'after-controller-kill', '--wait=false']);
  }, 300_000);

  it('helm upgrade rolling the speaker DaemonSet: zero failed probes (graceful handover, BGP graceful restart)', async () => {
    await waitForBgpSessions(cluster.lab, 60_000);
    const before = new Set((await speakerPods()).map((p) => p.name));
    const controllersBefore = new Set((await probes.heraldPods(cluster, 'controller')).map((p) => p.name));
    const probe = prober([vips.l2, vips.bgp]);
    await new Promise((r) => setTimeout(r, 1000));
    const seconds = await helmUpgrade(cluster, releaseValues(cluster, images.herald.name, { ...BASE, logLevel: 'debug' }), 'roll');
    await new Promise((r) => setTimeout(r, 3000));
    const { ok, failed } = await probe.stop();
    figure('helm upgrade rolling all speakers --wait (s)', seconds);
    figure('helm upgrade: failed probes', failed.length);
    const after = await speakerPods();
    expect(after.filter((p) => p.ready)).toHaveLength(NODES.length);
    expect(after.some((p) => before.has(p.name))).toBe(false);
    // Both controllers were replaced too (a controller restart): no Service changed its address.
    // (An old controller may still be terminating: only the ready ones count.)
    expect((await probes.heraldPods(cluster, 'controller')).filter((p) => p.ready).map((p) => controllersBefore.has(p.name))).toEqual([false, false]);
    for (const [svc, vip] of [['web-l2', vips.l2], ['web-bgp', vips.bgp]]) {
      expect(await cluster.kubectl(['-n', NS, 'get', 'service', svc, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).toBe(vip);
    }
    expect(ok).toBeGreaterThan(10);
    expect(failed).toEqual([]);
  }, 600_000);

  it('a breaking configInline change through helm upgrade, then YAML garbage by kubectl patch: both refused, Events in kubectl get events, traffic unaffected', async () => {
    const broken = configInline(cluster) as { 'address-pools': Array<{ name: string }> };
    // Dropping the pool that web-l2's address comes from would take it away: refused.
    broken['address-pools'] = broken['address-pools'].filter((p) => p.name !== 'lan');
    const probe = prober([vips.l2, vips.bgp]);
    await helmUpgrade(cluster, releaseValues(cluster, images.herald.name, { ...BASE, logLevel: 'debug', configInline: broken }), 'broken');
    const events = await eventually(
      'a ConfigRefused Event',
      async () => {
        const out = await cluster.kubectl(['get', 'events', '-A', '--field-selector', 'reason=ConfigRefused', '-o', 'jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name}: {.message}{"\\n"}{end}']);
        return out.trim() || null;
      },
      60_000,
      500,
    );
    process.stdout.write(`ConfigRefused Events:\n${events}\n`);
    expect(events).toMatch(/lan|web-l2/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await cluster.kubectl(['-n', NS, 'get', 'service', 'web-l2', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).toBe(vips.l2);
    // An operator's `kubectl patch` of YAML garbage into the ConfigMap: refused as invalid, the parse error in ConfigInvalid Events.
    await cluster.kubectl(['-n', HERALD_NAMESPACE, 'patch', 'configmap', 'herald-config', '--type', 'merge', '-p', JSON.stringify({ data: { config: 'address-pools:\n- name: lan\n  protocol: [layer2\n  addresses: {{ oops\n' } })]);
    const invalid = await eventually(
      'a ConfigInvalid Event',
      async () => (await cluster.kubectl(['get', 'events', '-A', '--field-selector', 'reason=ConfigInvalid', '-o', 'jsonpath={range .items[*]}{.message}{"\\n"}{end}'])).trim() || null,
      60_000,
      500,
    );
    expect(invalid).toMatch(/invalid YAML at line \d+, column \d+/);
    expect(await cluster.kubectl(['-n', NS, 'get', 'service', 'web-l2', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).toBe(vips.l2);
    // The patch took the field from helm's server-side apply: helm upgrade needs --force-conflicts to put the good config back.
    await helmUpgrade(cluster, releaseValues(cluster, images.herald.name, { ...BASE, logLevel: 'debug' }), 'restored', ['--force-conflicts']);
    expect(await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'configmap', 'herald-config', '-o', 'jsonpath={.data.config}'])).not.toContain('oops');
    const { ok, failed } = await probe.stop();
    expect(ok).toBeGreaterThan(5);
    expect(failed).toEqual([]);
  }, 300_000);

  it('a whole node dies (all its processes killed, its link cut): the layer2 VIP fails over, the router drops the node', async () => {
    const vip = vips.l2;
    const owner = await eventually('an ARP owner', () => arpOwner(vip), 20_000, 300);
    const t0 = Date.now();
    deadNode = owner;
    await cluster.killNode(owner);
    await eventually('the VIP on another node', async () => {
      const o = await arpOwner(vip);
      return o !== null && o !== owner;
    }, 60_000, 100);
    figure('node death: layer2 VIP moved (s)', (Date.now() - t0) / 1000);
    // Until the dead node's pods leave the endpoints (node-monitor-grace-period 20 s), some connections still go to them.
    await eventually('answers again', () => curl(vip), 60_000, 200);
    figure('node death: first answer through the layer2 VIP (s)', (Date.now() - t0) / 1000);
    const alive = NODES.filter((n) => n !== owner).map(ipOf).sort();
    await eventually('the router without the dead node', async () => JSON.stringify(await routerHops(cluster.lab, vips.bgp)) === JSON.stringify(alive), 120_000, 250);
    figure('node death: router dropped the node from the bgp route (s)', (Date.now() - t0) / 1000);
    // What an operator does for a node that is gone for good: its pods are then garbage-collected.
    await cluster.kubectl(['delete', 'node', owner]);
    expect(await eventually('an answer through the bgp VIP', () => curl(vips.bgp), 30_000, 200)).not.toBeNull();
  }, 300_000);

  it('helm uninstall: Herald is gone, the VIPs are no longer answered or routed', async () => {
    figure('helm uninstall --wait (s)', await helmUninstall(cluster));
    expect((await helm(cluster, ['list', '--namespace', HERALD_NAMESPACE, '-q'])).trim()).toBe('');
    expect((await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'daemonsets,deployments,configmaps', '-l', 'app.kubernetes.io/name=herald', '-o', 'name'])).trim()).toBe('');
    // helm deletes the DaemonSet; the garbage collector then deletes its pods (the dead node's pod
    // only after the pod GC's quarantine for a deleted Node, 40 s: not waited for).
    await eventually('no speaker pods on the live nodes', async () => (await speakerPods()).filter((p) => p.node !== deadNode).length === 0, 90_000, 500);
    await eventually('no ARP answer for the layer2 VIP', async () => (await arpMacs(vips.l2)).length === 0, 30_000, 500);
    // Graceful restart: the router keeps the paths as stale until the restart time runs out.
    await eventually('no route for the bgp VIP', async () => (await routerHops(cluster.lab, vips.bgp)).length === 0, 90_000, 500);
  }, 240_000);
  it('helm install again with the operator values only helm template proved before: extraArgs (Lease timings, in the args and on the Leases), nameOverride, rbac.create=false and serviceAccount.create=false with a pre-created ServiceAccount and RBAC', async () => {
    // The operator's own ServiceAccounts and RBAC, made before the install (here: the chart's rules, by
    // helm template, under other names), applied with kubectl: not part of the release.
    const sa = { controller: 'ops-herald-controller', speaker: 'ops-herald-speaker' };
    const rendered = await helm(cluster, ['template', RELEASE, CHART, '--namespace', HERALD_NAMESPACE, '--values', valuesFile(cluster, releaseValues(cluster, images.herald.name, { controller: { serviceAccount: { name: sa.controller } }, speaker: { serviceAccount: { name: sa.speaker } } }), 'rbac-template')]);
    const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    type Obj = { kind: string; metadata: { name: string; labels?: Record<string, string> }; roleRef?: { name: string } };
    const own = (yaml.loadAll(rendered) as Array<Obj | null>)
      .filter((o): o is Obj => o !== null && rbacKinds.has(o.kind))
      .map((o) => {
        delete o.metadata.labels;
        if (o.kind !== 'ServiceAccount') o.metadata.name = `ops-${o.metadata.name}`;
        if (o.roleRef) o.roleRef.name = `ops-${o.roleRef.name}`;
        return o;
      });
    expect(own.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'ServiceAccount', 'ServiceAccount']);
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: own }));
    const values = releaseValues(cluster, images.herald.name, {
      ...BASE,
      nameOverride: 'lb',
      rbac: { create: false },
      controller: { ...BASE.controller, serviceAccount: { create: false, name: sa.controller }, extraArgs: ['--lease-duration=12s'] },
      speaker: { ...SPEAKER, serviceAccount: { create: false, name: sa.speaker }, extraArgs: ['--lease-renew=4s', '--lease-duration=20s'] },
    });
    figure('helm install with operator values --wait (s)', await helmInstall(cluster, values, 'operator'));
    const manifest = await helm(cluster, ['get', 'manifest', RELEASE, '--namespace', HERALD_NAMESPACE]);
    const kinds = (yaml.loadAll(manifest) as Array<Obj | null>).filter((o): o is Obj => o !== null).map((o) => o.kind);
    expect(kinds.filter((k) => rbacKinds.has(k))).toEqual([]);
    const get = (what: string[], path: string): Promise<string> => cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', ...what, '-o', `jsonpath=${path}`]);
    const podLine = '{range .items[*]}{.spec.serviceAccountName} {.spec.containers[0].args}{"\\n"}{end}';
    // nameOverride: the pods (and the selectors) carry app.kubernetes.io/name=lb.
    const live = NODES.filter((n) => n !== deadNode);
    const speakerLines = (await get(['pods', '-l', 'app.kubernetes.io/name=lb,app.kubernetes.io/component=speaker'], podLine)).trim().split('\n');
    expect(speakerLines).toHaveLength(live.length);
    for (const l of speakerLines) expect(l).toMatch(new RegExp(`^${sa.speaker} .*"--lease-renew=4s","--lease-duration=20s"`));
    const controllerLines = (await get(['pods', '-l', 'app.kubernetes.io/name=lb,app.kubernetes.io/component=controller'], podLine)).trim().split('\n');
    expect(controllerLines).toHaveLength(2);
    for (const l of controllerLines) expect(l).toMatch(new RegExp(`^${sa.controller} .*"--lease-duration=12s"`));
    expect(await get(['daemonset', 'herald-speaker'], '{.spec.selector.matchLabels.app\\.kubernetes\\.io/name}')).toBe('lb');
    // The flags' behaviour: the daemons write their Leases with those durations (the liveness default is 30 s, the controller's 15 s).
    await eventually('every live speaker Lease at 20 s', async () => {
      const leases = await get(['leases', '-l', 'app.kubernetes.io/component=herald-speaker'], '{range .items[*]}{.metadata.name} {.spec.leaseDurationSeconds}{"\\n"}{end}');
      const got = new Map(leases.trim().split('\n').map((l) => l.split(' ') as [string, string]));
      return live.every((n) => got.get(`herald-speaker-${n}`) === '20');
    }, 60_000, 500);
    await eventually('the controller leader Lease at 12 s', async () => (await get(['lease', 'herald-controller'], '{.spec.leaseDurationSeconds}')) === '12', 60_000, 500);
    // The pre-created RBAC is enough: the controller restored web-l2's address and gives a new Service
    // one, the speakers announce them (ARP answered, curl answers through kube-proxy).
    expect(await eventually('an answer through the layer2 VIP again', () => curl(vips.l2), 60_000, 200)).toMatch(/^pod=web-l2-\S+ node=node[123]$/);
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(serviceManifest({ namespace: NS, name: 'after-reinstall', app: 'web-l2', pool: 'lan' })));
    const [fresh] = await waitForIngresses(cluster, NS, 'after-reinstall', 1, 60_000);
    expect(fresh).toMatch(/^192\.0\.2\.20\d$/);
    expect(fresh).not.toBe(vips.l2);
    expect(await eventually('an answer through the new layer2 VIP', () => curl(fresh), 60_000, 200)).toMatch(/^pod=web-l2-\S+ node=node[123]$/);
    expect(await arpMacs(fresh)).toHaveLength(1);
  }, 300_000);
});
