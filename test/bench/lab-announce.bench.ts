// Service create -> announced, on the full lab (issue 7 §4): N = 100 Services per protocol, created
// one after another, each timed alone (the next is created once the previous one was observed).
// The lab's pools are small, so a bench ConfigMap replaces them with bigger ones inside the
// documentation ranges: layer2 192.0.2.64-192.0.2.191 (clear of the lab hosts 192.0.2.10-15 and
// the lab's own pools), bgp 203.0.113.32-203.0.113.159 (routed by the router to the nodes).
//
// Each Service is created together with its EndpointSlice (a ready pretend pod on each of the three
// nodes; without a ready endpoint nothing is announced) by one `kubectl create -f -`, Service first,
// slice right after. t0 = when the Service's POST returned, per kubectl's own request log (-v=6:
// klog timestamps the line as the response arrives), so kubectl's start-up is not in the figure.
// The figure includes: the slice's POST (milliseconds after the Service's), the controller's watch
// event, allocation and status write, the speakers' watch events (Service + EndpointSlice), the
// announcement, and the path to the observer:
//   lab.bgp.create_to_route.*            the router's kernel table gets a route for the VIP (first
//                                        path), per `ip -ts monitor route` in the router namespace
//                                        (BIRD exports what it learns over BGP at once; the kernel
//                                        timestamps the netlink notification, no polling)
//   lab.bgp.create_to_route.all_paths.*  the route has all three next hops (ECMP, every speaker)
//   lab.l2.create_to_arp.*               the first ARP frame for the VIP on the client's link, per
//                                        tcpdump in the client namespace (kernel capture time): the
//                                        owner's gratuitous ARP, sent the moment it starts answering.
//                                        Each VIP is then checked with one arping from the client
//                                        (answered by exactly the owner's MAC), untimed.
// A warm-up Service per pool (untimed) proves the bench config is active first.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { CONFIG_MAP, HERALD_NAMESPACE, NODE_AS, NODES, ROUTER_AS, type FullLab } from '../lab/full-lab.js';
import { waitForServiceIps } from '../lab/full-kube.js';
import { arpOwner, waitForBgpSessions } from '../lab/full-setup.js';
import { daemonLogs, figure, kubectlCreateTimed, loadComment, monitorIn, captureIn, quantile, withBenchLab } from '../lab/full-bench.js';
import { captureTime, monitorTime, type LineWatch } from '../lab/l2-lab.js';

const N = Number(process.env.LAB_ANNOUNCE_SERVICES ?? 100);
const NAME = 'lab-announce';
const NS = 'bench';
const L2_RANGE = ['192.0.2.64', '192.0.2.191'] as const;
const BGP_RANGE = ['203.0.113.32', '203.0.113.159'] as const;
const TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ipInt = (ip: string): number => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const inRange = (ip: string, [lo, hi]: readonly [string, string]): boolean => ipInt(ip) >= ipInt(lo) && ipInt(ip) <= ipInt(hi);

function benchConfigMap(lab: FullLab): string {
  const config = [
    'peers:',
    `- peer-address: ${lab.host('router').ipv4}`,
    `  peer-asn: ${ROUTER_AS}`,
    `  my-asn: ${NODE_AS}`,
    'address-pools:',
    '- name: bench-l2',
    '  protocol: layer2',
    '  addresses:',
    `  - ${L2_RANGE.join('-')}`,
    '- name: bench-bgp',
    '  protocol: bgp',
    '  addresses:',
    `  - ${BGP_RANGE.join('-')}`,
    '',
  ].join('\n');
  return yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIG_MAP, namespace: HERALD_NAMESPACE }, data: { config } });
}

/** The Service and its EndpointSlice (a ready pretend pod on every node), in one manifest, Service first. */
function manifest(lab: FullLab, sliceApi: string, name: string, pool: string): string {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, annotations: { 'metallb.universe.tf/address-pool': pool } },
    spec: { type: 'LoadBalancer', selector: { app: name }, externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
  const slice = {
    apiVersion: sliceApi,
    kind: 'EndpointSlice',
    metadata: { name: `${name}-lab`, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    endpoints: NODES.map((n) => ({
      addresses: [lab.host(n).ipv4],
      conditions: { ready: true },
      nodeName: n,
      ...(sliceApi === 'discovery.k8s.io/v1beta1' ? { topology: { 'kubernetes.io/hostname': n } } : {}),
    })),
  };
  return `${yaml.dump(svc)}---\n${yaml.dump(slice)}`;
}

/** Kernel route notifications (`ip -ts monitor route`), grouped: a header line plus its `nexthop` lines. */
interface RouteMsg {
  at: number;
  dest: string;
  deleted: boolean;
  hops: number;
}

function routeMessages(w: LineWatch, from: number): RouteMsg[] {
  const out: RouteMsg[] = [];
  for (const { text } of w.lines.slice(from)) {
    const head = /^\[[^\]]+\] (Deleted )?(\d+\.\d+\.\d+\.\d+)(?:\/32)? (.*)$/.exec(text);
    if (head) {
      out.push({ at: monitorTime(text), dest: head[2], deleted: head[1] !== undefined, hops: /\bvia\b/.test(head[3]) ? 1 : 0 });
    } else if (/^\s+nexthop via /.test(text) && out.length) {
      out[out.length - 1].hops++;
    }
  }
  return out;
}

/** Sender IPs of ARP frames seen by tcpdump (`Request who-has X tell Y` / `Reply Y is-at M`), with capture times. */
function arpSenders(w: LineWatch, from: number): Array<{ at: number; ip: string }> {
  const out: Array<{ at: number; ip: string }> = [];
  for (const { text } of w.lines.slice(from)) {
    const m = /(?:tell (\d+\.\d+\.\d+\.\d+)|Reply (\d+\.\d+\.\d+\.\d+) is-at)/.exec(text);
    if (m) out.push({ at: captureTime(text), ip: m[1] ?? m[2] });
  }
  return out;
}

async function poll<T>(what: string, lab: FullLab, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${NAME}: timed out after ${TIMEOUT_MS} ms waiting for ${what}\n${daemonLogs(lab)}`);
    // The observers' own timestamps are the figures, so the poll period only delays the next create.
    await sleep(5);
  }
}

interface Sample {
  name: string;
  vip: string;
  /** When the Service's POST returned (epoch ms). */
  t0: number;
  firstMs: number;
  allMs?: number;
}

/** Per Service (`bench/<name>`), the earliest time (epoch ms) a daemon's log has `event` for it. */
function logTimes(lab: FullLab, daemons: string[], event: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of daemons) {
    for (const line of readFileSync(lab.logPath(d), 'utf8').split('\n')) {
      if (!line.includes(`"${event}"`)) continue;
      try {
        const r = JSON.parse(line) as { time?: string; event?: string; service?: string };
        if (r.event !== event || !r.service) continue;
        const at = Date.parse(r.time ?? '');
        if (!(at >= (out.get(r.service) ?? Infinity))) out.set(r.service, at);
      } catch {
        /* not a log record */
      }
    }
  }
  return out;
}

/**
 * Where the time goes, from the daemons' logs (millisecond wall-clock times): POST -> the controller's
 * ipAllocated (logged once the status write returned) -> the first speaker's announcing log line ->
 * observed. A comment line, p50 / p99 of each stage.
 */
function breakdown(lab: FullLab, key: string, samples: Sample[], speakerEvent: string): void {
  const alloc = logTimes(lab, ['controller'], 'ipAllocated');
  const announce = logTimes(lab, NODES.map((n) => `speaker-${n}`), speakerEvent);
  const stages: [string, number[]][] = [['status written', []], ['speaker announcing', []], ['observed', []]];
  for (const s of samples) {
    const a = alloc.get(`${NS}/${s.name}`);
    const b = announce.get(`${NS}/${s.name}`);
    if (a === undefined || b === undefined) continue;
    stages[0][1].push(a - s.t0);
    stages[1][1].push(b - a);
    stages[2][1].push(s.t0 + s.firstMs - b);
  }
  const parts = stages.map(([n, xs]) => `${n} +${quantile(xs, 0.5).toFixed(0)}/${quantile(xs, 0.99).toFixed(0)}`);
  process.stdout.write(`# ${key} breakdown, ms p50/p99 of each stage from the previous (${stages[0][1].length} Services): POST returned -> ${parts.join(' -> ')}\n`);
}

await withBenchLab(NAME, async (h) => {
  const { lab } = h;
  await waitForBgpSessions(lab);
  await lab.kubectl(['apply', '-f', '-'], benchConfigMap(lab));
  await lab.kubectl(['create', 'namespace', NS]);
  const sliceApi = (await lab.kubectl(['api-versions'])).split('\n').includes('discovery.k8s.io/v1') ? 'discovery.k8s.io/v1' : 'discovery.k8s.io/v1beta1';
  const routes = await monitorIn(lab, 'router', 'route');
  const arp = await captureIn(lab, 'client', 'arp');

  // Warm-up (untimed): the bench pools are in effect at the controller and the speakers.
  for (const [name, pool, range] of [['warm-bgp', 'bench-bgp', BGP_RANGE], ['warm-l2', 'bench-l2', L2_RANGE]] as const) {
    const from = { r: routes.lines.length, a: arp.lines.length };
    await kubectlCreateTimed(lab, manifest(lab, sliceApi, name, pool), 'services');
    const [ip] = await waitForServiceIps(lab, NS, name);
    if (!inRange(ip, range)) throw new Error(`${NAME}: warm-up Service ${name} got ${ip}, outside ${range.join('-')}: the bench config is not in effect`);
    if (pool === 'bench-bgp') await poll(`a route for ${ip}`, lab, () => routeMessages(routes, from.r).find((m) => m.dest === ip && !m.deleted));
    else await poll(`an ARP frame from ${ip}`, lab, () => arpSenders(arp, from.a).find((s) => s.ip === ip));
  }
  loadComment(NAME, 'start');

  // How long after the Service's POST returned kubectl had exited (the slice's POST, exit): a sanity
  // check on the klog clock, and what timing from kubectl's exit would have left out.
  const kubectlTail: number[] = [];

  // bgp: the next route the router gets is the new Service's (one at a time, nothing else changes).
  const bgp: Sample[] = [];
  const seenRoutes = new Set(routeMessages(routes, 0).map((m) => m.dest));
  for (let i = 0; i < N; i++) {
    const name = `bgp-${i}`;
    const from = routes.lines.length;
    const { postAt: t0, exitAt } = await kubectlCreateTimed(lab, manifest(lab, sliceApi, name, 'bench-bgp'), 'services');
    kubectlTail.push(exitAt - t0);
    const first = await poll(`${name}'s route at the router`, lab, () => routeMessages(routes, from).find((m) => !m.deleted && m.hops > 0 && !seenRoutes.has(m.dest) && inRange(m.dest, BGP_RANGE)));
    seenRoutes.add(first.dest);
    const all = await poll(`${name}'s route with ${NODES.length} paths`, lab, () => routeMessages(routes, from).find((m) => m.dest === first.dest && !m.deleted && m.hops === NODES.length));
    bgp.push({ name, vip: first.dest, t0, firstMs: first.at - t0, allMs: all.at - t0 });
  }

  // layer2: the first ARP frame from an address not heard before is the new Service's VIP.
  const l2: Sample[] = [];
  const heard = new Set(arpSenders(arp, 0).map((s) => s.ip));
  for (let i = 0; i < N; i++) {
    const name = `l2-${i}`;
    const from = arp.lines.length;
    const { postAt: t0, exitAt } = await kubectlCreateTimed(lab, manifest(lab, sliceApi, name, 'bench-l2'), 'services');
    kubectlTail.push(exitAt - t0);
    const seen = await poll(`${name}'s ARP at the client`, lab, () => arpSenders(arp, from).find((s) => !heard.has(s.ip) && inRange(s.ip, L2_RANGE)));
    heard.add(seen.ip);
    const answer = await arpOwner(lab, seen.ip);
    if (answer.node === null) throw new Error(`${NAME}: ${name}: no ARP answer for ${seen.ip} after its gratuitous ARP: ${answer.line}`);
    l2.push({ name, vip: seen.ip, t0, firstMs: seen.at - t0 });
  }
  loadComment(NAME, 'end');

  // The VIPs observed are the ones the controller assigned to those Services.
  const list = JSON.parse(await lab.kubectl(['get', 'svc', '-n', NS, '-o', 'json'])) as {
    items: Array<{ metadata: { name: string }; status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } } }>;
  };
  const assigned = new Map(list.items.map((s) => [s.metadata.name, s.status?.loadBalancer?.ingress?.[0]?.ip]));
  for (const s of [...bgp, ...l2]) {
    if (assigned.get(s.name) !== s.vip) throw new Error(`${NAME}: observed ${s.vip} for ${s.name}, but its status says ${assigned.get(s.name) ?? 'nothing'}`);
  }

  const secs = (xs: number[]): number[] => xs.map((x) => x / 1000);
  const report = (key: string, xs: number[]): void => {
    figure(`${key}.p50.seconds`, quantile(secs(xs), 0.5));
    figure(`${key}.p99.seconds`, quantile(secs(xs), 0.99));
    figure(`${key}.max.seconds`, Math.max(...secs(xs)));
  };
  report('lab.bgp.create_to_route', bgp.map((s) => s.firstMs));
  report('lab.bgp.create_to_route.all_paths', bgp.map((s) => s.allMs ?? NaN));
  report('lab.l2.create_to_arp', l2.map((s) => s.firstMs));
  figure('lab.create_to_announced.services', N);
  breakdown(lab, 'lab.bgp.create_to_route', bgp, 'serviceAnnounced');
  breakdown(lab, 'lab.l2.create_to_arp', l2, 'nodeAssigned');
  process.stdout.write(`# kubectl exited ${quantile(kubectlTail, 0.5).toFixed(0)} ms (p50), ${Math.max(...kubectlTail).toFixed(0)} ms (max) after the Service's POST returned\n`);
  await routes.stop();
  await arp.stop();
});
