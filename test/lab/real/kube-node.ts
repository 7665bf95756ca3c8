// One node of the real cluster: the lab's node namespace plus a mount namespace of its own, held by a
// `sleep` started through `nsenter --net=... unshare --mount --propagation slave` (not `ip netns
// exec`, which remounts /sys and hides the cgroup tree from kubelet and runc). Inside it: a tmpfs on
// /run and per-node /var/lib and /var/log (kubelets on one host would otherwise empty each other's
// device-plugin and pod-log directories), files holding the values kubelet wants over the three
// host-global sysctls it would write, then containerd (+ runc shims), kubelet and kube-proxy
// (iptables mode). Pods get addresses from the bridge CNI plugin with host-local IPAM; the nodes'
// pod subnets are routed between them with static routes. Every kubelet has its own cgroup root,
// created here in every v1 hierarchy and removed at teardown.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FullLab, NodeName } from '../full-lab.js';
import { NODES } from '../full-lab.js';
import { CLUSTER_CIDRS, FEATURE_GATES, POD_CIDRS, POD_CIDRS_V6, SERVICE_CIDR, SERVICE_CIDR_V6, kubeBinary, type ControlPlane } from './control-plane.js';
import { RealClusterError, cgroupHierarchies, killAll, logTail, namespaceOf, netnsIdentity, pidsInCgroup, pidsInNamespace, removeCgroup, sleep, startDetached } from './processes.js';

/** An image the nodes import: its reference and a docker-archive/OCI tarball. */
export interface ImageFile {
  name: string;
  tarball: string;
}

/** What teardown needs to find a node's processes again (kept in the cluster's state file). */
export interface NodeRecord {
  node: NodeName;
  /** cgroup name under every hierarchy (kubelet's --cgroup-root). */
  cgroup: string;
  /** The node mount namespace's identity (`mnt:[inode]`). */
  mountNs: string;
  holderPid: number;
}

const SYSCTLS: Record<string, string> = {
  // kubelet --protect-kernel-defaults checks these and writes nothing.
  'vm/overcommit_memory': '1',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
};

function sh(argv: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new RealClusterError(`${argv.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

export class KubeNode {
  readonly dir: string;
  record: NodeRecord | undefined;

  constructor(
    private readonly lab: FullLab,
    readonly node: NodeName,
  ) {
    this.dir = join(lab.dir, node);
  }

  get cgroup(): string {
    return `${this.lab.state.prefix}-${this.node}`;
  }

  /** argv prefix running a command in this node's network and mount namespaces. */
  enter(argv: string[]): string[] {
    if (!this.record) throw new RealClusterError(`${this.node} has no mount namespace yet`);
    return ['nsenter', '-t', String(this.record.holderPid), '-m', '-n', '--', ...argv];
  }

  exec(argv: string[], timeoutMs = 60_000): Promise<string> {
    return sh(this.enter(argv), timeoutMs);
  }

  /** Network, mount namespace, cgroups, containerd with the images; kubelet and kube-proxy come with startKube(). */
  async startRuntime(images: ImageFile[]): Promise<void> {
    const d = this.dir;
    // The node's mount namespace covers these with its own: the node's files must live elsewhere.
    if (/^\/(run|var\/run|var\/lib|var\/log)(\/|$)/.test(d)) throw new RealClusterError(`the cluster directory ${d} is under /run, /var/lib or /var/log, which every node mounts over`);
    for (const sub of ['var-lib', 'var-log', 'sysctl', 'cni']) mkdirSync(join(d, sub), { recursive: true });
    for (const [k, v] of Object.entries(SYSCTLS)) writeFileSync(join(d, 'sysctl', k.replace('/', '-')), `${v}\n`);
    await this.plumb();
    this.makeCgroups();
    this.writeCni();
    const holderScript = [
      'set -e',
      'mount -t tmpfs -o mode=755 tmpfs /run',
      `mount --bind ${d}/var-lib /var/lib`,
      `mount --bind ${d}/var-log /var/log`,
      ...Object.keys(SYSCTLS).map((k) => `mount --bind ${d}/sysctl/${k.replace('/', '-')} /proc/sys/${k}`),
      `touch ${d}/holder.ready`,
      'exec sleep infinity',
    ].join('\n');
    const holderPid = startDetached(
      ['nsenter', `--net=/run/netns/${this.lab.host(this.node).ns}`, 'unshare', '--mount', '--propagation', 'slave', 'sh', '-c', holderScript],
      join(d, 'holder.log'),
    );
    this.lab.state.pids[`${this.node}-holder`] = holderPid;
    this.lab.save();
    const t0 = Date.now();
    while (!existsSync(join(d, 'holder.ready'))) {
      if (Date.now() - t0 > 15_000) throw new RealClusterError(`${this.node}: mount namespace not set up:\n${logTail(join(d, 'holder.log'))}`);
      await sleep(20);
    }
    // `exec sleep` keeps the pid; its mount namespace is the node's.
    this.record = { node: this.node, cgroup: this.cgroup, mountNs: namespaceOf(holderPid, 'mnt') ?? '', holderPid };
    writeFileSync(join(d, 'containerd.toml'), this.containerdConfig(images[0].name));
    this.lab.state.pids[`${this.node}-containerd`] = startDetached(this.enter(['containerd', '--config', join(d, 'containerd.toml')]), this.lab.logPath(`${this.node}-containerd`));
    this.lab.save();
    const t1 = Date.now();
    for (;;) {
      const ok = await this.exec(['ctr', '--address', '/run/containerd/containerd.sock', 'version'], 5000).then(() => true, () => false);
      if (ok) break;
      if (Date.now() - t1 > 60_000) throw new RealClusterError(`${this.node}: containerd not answering:\n${logTail(this.lab.logPath(`${this.node}-containerd`))}`);
      await sleep(200);
    }
    for (const img of images) {
      await this.exec(['ctr', '--address', '/run/containerd/containerd.sock', '-n', 'k8s.io', 'images', 'import', img.tarball], 600_000);
    }
  }

  /** kubelet and kube-proxy with the node's own client certificates. */
  startKube(cp: ControlPlane, apiserverBin: string): void {
    const d = this.dir;
    const host = this.lab.host(this.node);
    const nodeId = { file: `node-${this.node}`, cn: `system:node:${this.node}`, org: 'system:nodes' };
    const proxyId = { file: `proxy-${this.node}`, cn: 'system:kube-proxy' };
    cp.pki.client(nodeId);
    cp.pki.client(proxyId);
    const kubeletKubeconfig = cp.pki.kubeconfig(nodeId, cp.server);
    const proxyKubeconfig = cp.pki.kubeconfig(proxyId, cp.server);
    copyFileSync(cp.pki.caFile, join(d, 'ca.crt'));
    writeFileSync(
      join(d, 'kubelet.yaml'),
      [
        'apiVersion: kubelet.config.k8s.io/v1beta1',
        'kind: KubeletConfiguration',
        `address: ${host.ipv4}`,
        'port: 10250',
        'readOnlyPort: 0',
        'healthzBindAddress: 127.0.0.1',
        'authentication:',
        '  anonymous: { enabled: false }',
        '  webhook: { enabled: true }',
        `  x509: { clientCAFile: ${join(d, 'ca.crt')} }`,
        'authorization: { mode: Webhook }',
        'cgroupDriver: cgroupfs',
        `cgroupRoot: /${this.cgroup}`,
        'cgroupsPerQOS: true',
        'protectKernelDefaults: true',
        'failSwapOn: false',
        // Imported images cannot be pulled again: never collect them; no disk-pressure evictions on a shared disk.
        'imageGCHighThresholdPercent: 100',
        'imageGCLowThresholdPercent: 99',
        'evictionHard: { memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%" }',
        'serializeImagePulls: false',
        'clusterDomain: cluster.local',
        'nodeStatusUpdateFrequency: 4s',
        'maxPods: 60',
        `featureGates: ${JSON.stringify(FEATURE_GATES)}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(d, 'kube-proxy.yaml'),
      [
        'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
        'kind: KubeProxyConfiguration',
        `clientConnection: { kubeconfig: ${proxyKubeconfig} }`,
        'mode: iptables',
        // Both families: with IPv6DualStack kube-proxy runs an iptables and an ip6tables proxier.
        `clusterCIDR: "${CLUSTER_CIDRS}"`,
        `hostnameOverride: ${this.node}`,
        `bindAddress: ${host.ipv4}`,
        'healthzBindAddress: 127.0.0.1:10256',
        'metricsBindAddress: 127.0.0.1:10249',
        // 0: leave the host-global conntrack table size and timeouts as they are.
        'conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }',
        'iptables: { minSyncPeriod: 0s, syncPeriod: 30s }',
        `featureGates: ${JSON.stringify(FEATURE_GATES)}`,
        '',
      ].join('\n'),
    );
    this.lab.state.pids[`${this.node}-kubelet`] = startDetached(
      this.enter([
        kubeBinary(apiserverBin, 'kubelet'),
        `--config=${join(d, 'kubelet.yaml')}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--hostname-override=${this.node}`,
        // Dual-stack node IPs (1.20 takes "v4,v6" with IPv6DualStack): hostNetwork pods get both.
        `--node-ip=${host.ipv4},${host.ipv6}`,
        '--container-runtime=remote',
        '--container-runtime-endpoint=unix:///run/containerd/containerd.sock',
        `--cert-dir=${join(d, 'kubelet-pki')}`,
        '--v=1',
      ]),
      this.lab.logPath(`${this.node}-kubelet`),
    );
    this.lab.state.pids[`${this.node}-kube-proxy`] = startDetached(
      this.enter([kubeBinary(apiserverBin, 'kube-proxy'), `--config=${join(d, 'kube-proxy.yaml')}`, '--v=1']),
      this.lab.logPath(`${this.node}-kube-proxy`),
    );
    this.lab.save();
  }

  /** Forwarding, routes to the other nodes' pod subnets and to the Service range (hostNetwork pods connect to ClusterIPs). */
  private async plumb(): Promise<void> {
    const ns = this.lab.host(this.node).ns;
    await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    for (const other of NODES) {
      if (other === this.node) continue;
      await sh(['ip', '-n', ns, 'route', 'replace', POD_CIDRS[other], 'via', this.lab.host(other).ipv4]);
      await sh(['ip', '-n', ns, '-6', 'route', 'replace', POD_CIDRS_V6[other], 'via', this.lab.host(other).ipv6]);
    }
    // Without a route kube-proxy's DNAT never runs: connect() fails with ENETUNREACH first.
    await sh(['ip', '-n', ns, 'route', 'replace', SERVICE_CIDR, 'via', this.lab.host('control').ipv4]);
    await sh(['ip', '-n', ns, '-6', 'route', 'replace', SERVICE_CIDR_V6, 'via', this.lab.host('control').ipv6]);
  }

  private makeCgroups(): void {
    for (const h of cgroupHierarchies()) {
      const dir = join('/sys/fs/cgroup', h, this.cgroup);
      mkdirSync(dir, { recursive: true });
      if (h === 'cpuset') {
        // A new cpuset has no CPUs or memory nodes until given some: the root's.
        for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join('/sys/fs/cgroup/cpuset', f), 'utf8'));
      }
    }
  }

  private writeCni(): void {
    const conf = {
      cniVersion: '0.4.0',
      name: 'herald-real',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          // Dual stack: one address of each family per pod, each family's gateway on cni0.
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_CIDRS[this.node] }], [{ subnet: POD_CIDRS_V6[this.node] }]],
            routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    };
    writeFileSync(join(this.dir, 'cni', '10-herald-real.conflist'), `${JSON.stringify(conf, null, 2)}\n`);
  }

  private containerdConfig(pause: string): string {
    return [
      'version = 2',
      // Content and snapshots on the node's /run tmpfs: gone with the mount namespace at teardown
      // (deleting ~1 GB of unpacked layers per node from disk took minutes on a loaded machine).
      'root = "/run/containerd-root"',
      'state = "/run/containerd"',
      '[grpc]',
      '  address = "/run/containerd/containerd.sock"',
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${pause}"`,
      // root lacks CAP_SYS_RESOURCE here: runc's -998 for sandboxes would be refused.
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      '  stream_server_address = "127.0.0.1"',
      '  disable_apparmor = true',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${join(this.dir, 'cni')}"`,
      '',
    ].join('\n');
  }
}

/**
 * Kills everything a node runs (its mount namespace's processes: holder, containerd, shims, kubelet,
 * kube-proxy; its cgroups' tasks: the pods; its network namespace's processes) and removes its cgroups.
 * Never the host's own namespaces. Synchronous: also used from exit hooks.
 */
export function killNode(rec: NodeRecord, netns: string | undefined, removeCgroups = true): void {
  const pids = new Set<number>();
  const ownMnt = namespaceOf(process.pid, 'mnt');
  const ownNet = namespaceOf(process.pid, 'net');
  if (rec.mountNs && rec.mountNs !== ownMnt) for (const p of pidsInNamespace('mnt', rec.mountNs)) pids.add(p);
  for (const p of pidsInCgroup(rec.cgroup)) pids.add(p);
  const net = netns ? netnsIdentity(netns) : null;
  if (net && net !== ownNet) for (const p of pidsInNamespace('net', net)) pids.add(p);
  killAll([...pids]);
  // Pods' processes left over (a shim died before them) are still in the cgroups.
  killAll(pidsInCgroup(rec.cgroup));
  if (removeCgroups) removeCgroup(rec.cgroup);
}
