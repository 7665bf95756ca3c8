// A real multi-node Kubernetes 1.20 cluster in network namespaces, on the full lab's wiring
// (full-lab.ts with kube: 'none'):
//
//   control  192.0.2.10  etcd, kube-apiserver (:6443), kube-controller-manager, kube-scheduler
//   router   192.0.2.11  BIRD or FRR (full-router.ts), AS 64512, ECMP routes to the nodes
//   node1..3 192.0.2.12-14  containerd + runc, kubelet, kube-proxy (iptables + ip6tables), bridge CNI;
//                        pods in 198.51.100.0/26, .64/26, .128/26 and 2001:db8:10:1-3::/64 (routed between the nodes)
//   client   192.0.2.15  curl / arping / ndisc6; 203.0.113.0/24 and 2001:db8:203::/120 routed via the router
//
// Dual stack (IPv6DualStack, IPv4 first): every host also has 2001:db8:0:1::a-f/64 on the link, the
// router an IPv6 BGP session per node. Services get ClusterIPs from 198.51.100.192/26 and 2001:db8:20::/112. Documentation addresses only, nothing on the root
// namespace's interfaces, routes or sysctls. Teardown (stop(), the exit and signal hooks, a failed
// start) kills only processes in the cluster's namespaces and cgroups, removes the cgroups and the
// namespaces.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKubeApiserver } from '../../cluster/cluster.js';
import { kubectlBinary } from '../../tools/helm.js';
import { FullLab, NODES, type NodeName } from '../full-lab.js';
import { enableRouterIpv6, startRouter, type LabRouterKind } from '../full-router.js';
import { POD_CIDRS, startControlPlane, waitApiserverReady, type ControlPlane } from './control-plane.js';
import { KubeNode, killNode, type ImageFile, type NodeRecord } from './kube-node.js';
import { RealClusterError, namespaceOf, sleep, startDetached } from './processes.js';

export interface RealClusterImages {
  /** The sandbox image: imported first, containerd's sandbox_image. */
  pause: ImageFile;
  backend: ImageFile;
  herald: ImageFile;
}

export interface RealClusterOptions {
  /** Namespace name prefix (random suffix not added: pick a unique one). */
  prefix: string;
  /** State, certificates, configs and logs (created; removed at teardown). */
  dir: string;
  images: RealClusterImages;
  router?: LabRouterKind;
  log?: (line: string) => void;
}

interface RealState {
  prefix: string;
  etcdDataDir?: string;
  nodes: NodeRecord[];
}

const live = new Set<string>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const dir of live) RealCluster.destroy(dir);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const dir of live) RealCluster.destroy(dir);
      process.exit(130);
    });
  }
}

export class RealCluster {
  readonly nodes = new Map<NodeName, KubeNode>();
  /** Seconds from start() to three Ready nodes. */
  startSeconds = 0;

  private constructor(
    readonly lab: FullLab,
    readonly cp: ControlPlane,
    readonly apiserverBin: string,
  ) {}

  get dir(): string {
    return this.lab.dir;
  }

  get kubeconfig(): string {
    return this.cp.adminKubeconfig;
  }

  static async start(opts: RealClusterOptions): Promise<RealCluster> {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const t0 = Date.now();
    const apiserverBin = await ensureKubeApiserver(log);
    installHooks();
    live.add(opts.dir);
    const state: RealState = { prefix: opts.prefix, nodes: [] };
    const saveState = (): void => writeFileSync(join(opts.dir, 'real.json'), `${JSON.stringify(state, null, 2)}\n`);
    try {
      const lab = await FullLab.create({ prefix: opts.prefix, dir: opts.dir, router: opts.router, kube: 'none', log });
      saveState();
      // Pods talk to the API server (through the `kubernetes` Service) from their own addresses.
      for (const n of NODES) await lab.mustExec('control', 'ip', ['route', 'replace', POD_CIDRS[n], 'via', lab.host(n).ipv4]);
      const cp = await startControlPlane(lab, apiserverBin, log);
      state.etcdDataDir = cp.etcdDataDir;
      saveState();
      const cluster = new RealCluster(lab, cp, apiserverBin);
      const images = [opts.images.pause, opts.images.backend, opts.images.herald];
      const t1 = Date.now();
      await Promise.all(
        NODES.map(async (n) => {
          const node = new KubeNode(lab, n);
          cluster.nodes.set(n, node);
          const started = node.startRuntime(images);
          // The record exists as soon as the mount namespace does: teardown needs it from then on.
          const rec = (async (): Promise<void> => {
            while (!node.record) await sleep(50);
            state.nodes.push(node.record);
            saveState();
          })();
          await started;
          await rec;
        }),
      );
      log(`real cluster: containerd up on ${NODES.length} nodes, images imported in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
      for (const n of NODES) cluster.nodes.get(n)!.startKube(cp, apiserverBin);
      await startRouter(lab);
      // IPv6 sessions to every node and IPv6 forwarding: IPv6 bgp VIPs are routed like IPv4 ones.
      await enableRouterIpv6(lab);
      await cluster.waitNodesReady(180_000);
      cluster.startSeconds = (Date.now() - t0) / 1000;
      log(`real cluster: ${NODES.length} nodes Ready, ${cluster.startSeconds.toFixed(1)} s after start`);
      return cluster;
    } catch (err) {
      RealCluster.destroy(opts.dir);
      live.delete(opts.dir);
      throw err;
    }
  }

  /** kubectl 1.33 (the npm package's) as the cluster admin, in the control namespace where the API server listens. */
  kubectl(args: string[], input?: string, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', this.lab.host('control').ns, kubectlBinary(), '--kubeconfig', this.kubeconfig, ...args],
        { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) reject(new RealClusterError(`kubectl ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
          else resolve(stdout);
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  async readyNodes(): Promise<NodeName[]> {
    const out = await this.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']).catch(() => '');
    return out
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, s]) => s === 'True')
      .map(([n]) => n as NodeName)
      .filter((n) => (NODES as readonly string[]).includes(n));
  }

  private async waitNodesReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = await this.readyNodes();
      if (ready.length === NODES.length) return;
      if (Date.now() > deadline) {
        const tails = NODES.filter((n) => !ready.includes(n))
          .map((n) => `--- ${n} kubelet:\n${tailOf(this.lab.logPath(`${n}-kubelet`))}`)
          .join('\n');
        throw new RealClusterError(`nodes not Ready after ${timeoutMs / 1000} s (ready: ${ready.join(', ') || 'none'})\n${tails}`);
      }
      await sleep(500);
    }
  }

  /**
   * A whole node dies: every process it runs (containerd, shims, pods, kubelet, kube-proxy) is
   * killed and its link to the bridge goes down. Its cgroups stay until teardown.
   */
  async killNode(node: NodeName): Promise<void> {
    const rec = this.record(node);
    const idx = NODES.indexOf(node) + 2; // bridge port p<i>: HOSTS order, control and router first
    killNode(rec, this.lab.host(node).ns, false);
    await new Promise<void>((resolve, reject) =>
      execFile('ip', ['-n', this.lab.state.bridgeNs, 'link', 'set', `p${idx}`, 'down'], (err) => (err ? reject(err) : resolve())),
    );
  }

  /**
   * Stops the kube-apiserver process the cluster started (by its pid: SIGTERM, SIGKILL after 5 s);
   * etcd, the other components, the nodes and Herald keep running. Resolves with the signal that ended it.
   */
  stopApiserver(): Promise<NodeJS.Signals> {
    return this.lab.stopApiserver();
  }

  /** Starts kube-apiserver again on the command line it had (same address, certificates, etcd); resolves when /readyz is ok. */
  async startApiserver(timeoutMs = 120_000): Promise<void> {
    const argv = this.lab.state.apiserverArgv;
    if (!argv?.length) throw new RealClusterError('startApiserver: no stopped kube-apiserver (stopApiserver first)');
    this.lab.state.pids['kube-apiserver'] = startDetached(['ip', 'netns', 'exec', this.lab.host('control').ns, ...argv], this.lab.logPath('kube-apiserver'));
    this.lab.save();
    await waitApiserverReady(this.lab, timeoutMs);
  }

  private record(node: NodeName): NodeRecord {
    const rec = this.nodes.get(node)?.record;
    if (!rec) throw new RealClusterError(`no node ${node}`);
    return rec;
  }

  /** Let the cluster outlive this process (no teardown at exit); RealCluster.destroy(dir) removes it later. */
  keep(): void {
    live.delete(this.dir);
  }

  async stop(): Promise<void> {
    RealCluster.destroy(this.dir);
    live.delete(this.dir);
  }

  /** Tears down the cluster described in `dir` (synchronous: exit hooks use it). */
  static destroy(dir: string): void {
    let state: RealState | undefined;
    try {
      state = JSON.parse(readFileSync(join(dir, 'real.json'), 'utf8')) as RealState;
    } catch {
      state = undefined;
    }
    if (state) {
      let lab: FullLab | undefined;
      try {
        lab = FullLab.load(dir);
      } catch {
        lab = undefined;
      }
      const known = new Set(state.nodes.map((r) => r.node));
      const records = [...state.nodes];
      // A node whose mount namespace was being made when start failed: found by its holder's pid.
      for (const n of NODES) {
        if (known.has(n)) continue;
        const holder = lab?.state.pids[`${n}-holder`];
        const mountNs = holder ? namespaceOf(holder, 'mnt') : null;
        const ownMountNs = mountNs && mountNs !== namespaceOf(process.pid, 'mnt') ? mountNs : '';
        records.push({ node: n, cgroup: `${state.prefix}-${n}`, mountNs: ownMountNs, holderPid: holder ?? 0 });
      }
      for (const rec of records) killNode(rec, lab?.host(rec.node)?.ns, true);
      if (state.etcdDataDir && state.etcdDataDir.startsWith('/dev/shm/herald-real-etcd-')) rmSync(state.etcdDataDir, { recursive: true, force: true });
    }
    if (existsSync(dir)) FullLab.destroy(dir);
  }
}

function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
