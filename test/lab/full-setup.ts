// Brings the full lab (full-lab.ts) up to "Herald running": RBAC, ServiceAccount kubeconfigs, Nodes,
// backends, BIRD, the controller and one speaker per node; shared by `make demo` and the e2e tests.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODES, FullLab, HERALD_NAMESPACE, CONFIG_MAP, type NodeName } from './full-lab.js';
import { createNodes, installRbac, poolConfigMap, serviceAccountKubeconfig, tail } from './full-kube.js';
import { routerSessions, routerShow, startRouter, type LabRouterKind } from './full-router.js';

export interface LabUpOptions {
  prefix: string;
  dir: string;
  router?: LabRouterKind;
  log?: (line: string) => void;
  /** Extra `herald speaker` flags for every speaker, e.g. ['--graceful-restart', '60']; '{node-ipv4}' is replaced per node. */
  speakerArgs?: string[];
  /** With `crds`: the metallb.io CRDs are installed, these CR manifests applied instead of the ConfigMap, and the daemons run --config-source crds. */
  crs?: (lab: FullLab) => string;
  /**
   * Install the metallb.io CRDs with the ConfigMap config too, as `herald manifests` and the chart do
   * by default: the speakers write their ServiceL2Status objects and the layer2 holders tier (on by
   * default) reads them. Without them the speakers log layer2HoldersUnavailable and decide by seniority.
   */
  statusCrds?: boolean;
}

export interface HeraldLab {
  lab: FullLab;
  controllerKubeconfig: string;
  speakerKubeconfig: string;
  /** Extra flags startSpeaker passes (also when a test starts a speaker again). */
  speakerArgs?: string[];
  /** The daemons read the metallb.io objects (--config-source crds). */
  crds?: boolean;
}

/** Everything up to the daemons; on failure the lab is torn down and the error rethrown. */
export async function labUp(opts: LabUpOptions): Promise<HeraldLab> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const lab = await FullLab.create({ prefix: opts.prefix, dir: opts.dir, router: opts.router, log });
  try {
    await installRbac(lab, opts.crs !== undefined ? 'crds' : 'configmap', opts.crs !== undefined || opts.statusCrds === true);
    const controllerKubeconfig = await serviceAccountKubeconfig(lab, 'herald-controller');
    const speakerKubeconfig = await serviceAccountKubeconfig(lab, 'herald-speaker');
    await createNodes(lab);
    await lab.kubectl(['apply', '-f', '-'], opts.crs ? opts.crs(lab) : poolConfigMap(lab));
    lab.startBackends();
    await startRouter(lab);
    const h: HeraldLab = { lab, controllerKubeconfig, speakerKubeconfig, speakerArgs: opts.speakerArgs, crds: opts.crs !== undefined };
    startController(h);
    for (const n of NODES) startSpeaker(h, n);
    return h;
  } catch (err) {
    FullLab.destroy(opts.dir);
    throw err;
  }
}

/**
 * Speaker flags for the liveness protocol (protocols/liveness) on UDP `port`, with a random shared
 * secret written into `dir`; the speakers then take the liveness Lease timings (renew 10 s, duration 30 s).
 */
export function livenessSpeakerArgs(dir: string, port = 7946): string[] {
  const secret = join(dir, 'liveness-secret');
  writeFileSync(secret, randomBytes(32));
  return ['--liveness-port', String(port), '--liveness-address', '{node-ipv4}', '--liveness-secret-file', secret];
}

export function startController(h: HeraldLab): number {
  return h.lab.startHerald('controller', 'control', [
    'controller',
    '--kubeconfig',
    h.controllerKubeconfig,
    '--namespace',
    HERALD_NAMESPACE,
    '--config-map',
    CONFIG_MAP,
    '--metrics-address',
    '127.0.0.1:7472',
    ...(h.crds ? ['--config-source', 'crds'] : []),
  ]);
}

/** `herald speaker --node-name <node>` in the node's namespace, under the speaker ServiceAccount. */
export function startSpeaker(h: HeraldLab, node: NodeName): number {
  return h.lab.startHerald(`speaker-${node}`, node, [
    'speaker',
    '--node-name',
    node,
    '--kubeconfig',
    h.speakerKubeconfig,
    '--namespace',
    HERALD_NAMESPACE,
    '--config-map',
    CONFIG_MAP,
    '--interface',
    'eth0',
    '--metrics-address',
    '127.0.0.1:7473',
    ...(h.crds ? ['--config-source', 'crds'] : []),
    // '{node-ipv4}' in a flag stands for this node's address (per-node flags such as --liveness-address).
    ...(h.speakerArgs ?? []).map((a) => a.replace('{node-ipv4}', h.lab.host(node).ipv4)),
  ]);
}

/** Waits until the router has every node's session Established. */
export async function waitForBgpSessions(lab: FullLab, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await routerSessions(lab).catch(() => new Map<string, string>());
    if (NODES.every((n) => states.get(n) === 'Established')) return;
    if (Date.now() > deadline) {
      const [, out] = await routerShow(lab, 'sessions').catch((e: unknown) => ['', String(e)]);
      throw new Error(`BGP sessions not all Established after ${timeoutMs} ms:\n${out}\nspeaker-node1 log:\n${tail(lab.logPath('speaker-node1'))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One HTTP GET from the client namespace; the answer is the serving node's name (or null). */
export async function curlFromClient(lab: FullLab, vip: string, timeoutSec = 1): Promise<string | null> {
  const host = vip.includes(':') ? `[${vip}]` : vip;
  const r = await lab.exec('client', 'curl', ['-s', '--max-time', String(timeoutSec), `http://${host}/`], (timeoutSec + 2) * 1000);
  return r.code === 0 ? r.stdout.trim() : null;
}

/** The node owning an IPv6 layer2 VIP per one Neighbor Solicitation from the client (ndisc6), or null. */
export async function ndpOwner(lab: FullLab, vip: string): Promise<{ node: string | null; line: string }> {
  const r = await lab.exec('client', 'ndisc6', ['-1', '-r', '1', '-w', '1000', vip, 'eth0'], 5000);
  const mac = /Target link-layer address:\s*([0-9A-Fa-f:]{17})/.exec(r.stdout)?.[1]?.toLowerCase();
  const node = NODES.find((n) => lab.host(n).mac.toLowerCase() === mac) ?? null;
  const line = r.stdout.split('\n').find((l) => /link-layer address/i.test(l));
  return { node, line: (line ?? (r.stdout.trim() || r.stderr.trim())).trim() };
}

/** The node owning a layer2 VIP per one ARP request from the client: its name by MAC, or null. */
export async function arpOwner(lab: FullLab, vip: string): Promise<{ node: string | null; line: string }> {
  const r = await lab.exec('client', 'arping', ['-c', '1', '-w', '2', '-I', 'eth0', vip], 5000);
  const line = r.stdout.split('\n').find((l) => /reply from/i.test(l)) ?? '';
  const mac = /\[([0-9a-f:]{17})\]/i.exec(line)?.[1]?.toLowerCase();
  const node = NODES.find((n) => lab.host(n).mac.toLowerCase() === mac) ?? null;
  return { node, line: line.trim() || r.stdout.trim() || r.stderr.trim() };
}
