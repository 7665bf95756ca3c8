// The real cluster's control plane, in the lab's `control` namespace: etcd (on the namespace's
// loopback, data in /dev/shm), kube-apiserver (Node,RBAC authorization, NodeRestriction, the
// ServiceAccount admission and token signing), kube-controller-manager (every default controller,
// ServiceAccount tokens, one credential per controller) and kube-scheduler. Each component has its
// own client certificate with the name the default RBAC grants its rights to.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { kubectlBinary } from '../../tools/helm.js';
import type { FullLab } from '../full-lab.js';
import { Pki } from './pki.js';
import { RealClusterError, logTail, sleep, startDetached } from './processes.js';

/** Pod subnets per node (198.51.100.0/24 split in four /26: three nodes and the Service range). */
export const POD_CIDRS = { node1: '198.51.100.0/26', node2: '198.51.100.64/26', node3: '198.51.100.128/26' } as const;
export const CLUSTER_CIDR = '198.51.100.0/24';
export const SERVICE_CIDR = '198.51.100.192/26';
/** The `kubernetes` Service's ClusterIP: the first address of the Service range. */
export const KUBERNETES_SERVICE_IP = '198.51.100.193';
/**
 * Dual stack (IPv4 first, so Services without ipFamilies stay IPv4): every pod also gets an IPv6
 * address from its node's /64 in 2001:db8:10::/56, IPv6 Services get ClusterIPs from a /112 (65,536:
 * room for the benchmark's 1,000 IPv6 LoadBalancer Services, which the IPv4 /26 has not).
 */
export const POD_CIDRS_V6 = { node1: '2001:db8:10:1::/64', node2: '2001:db8:10:2::/64', node3: '2001:db8:10:3::/64' } as const;
export const CLUSTER_CIDR_V6 = '2001:db8:10::/56';
export const SERVICE_CIDR_V6 = '2001:db8:20::/112';
/** Dual-stack ranges as the 1.20 flags take them: IPv4,IPv6. */
export const CLUSTER_CIDRS = `${CLUSTER_CIDR},${CLUSTER_CIDR_V6}`;
export const SERVICE_CIDRS = `${SERVICE_CIDR},${SERVICE_CIDR_V6}`;
/**
 * EndpointSliceNodeName: alpha in 1.20, needed for EndpointSlice nodeName (Herald also reads the
 * v1beta1 topology). IPv6DualStack: alpha in 1.20, on every component that takes it.
 */
export const FEATURE_GATES: Readonly<Record<string, boolean>> = { EndpointSliceNodeName: true, IPv6DualStack: true };
/** The gates as the command-line flag's value. */
export const featureGatesFlag = (): string => Object.entries(FEATURE_GATES).map(([k, v]) => `${k}=${v}`).join(',');

/** Where the Kubernetes 1.20 binaries are, from the kube-apiserver path build-kube-apiserver.sh prints. */
export function kubeBinary(apiserver: string, component: string): string {
  return join(dirname(apiserver), apiserver.split('/').pop()!.replace(/^kube-apiserver/, component));
}

export interface ControlPlane {
  pki: Pki;
  server: string;
  adminKubeconfig: string;
  etcdDataDir: string;
}

function runIn(lab: FullLab, args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', lab.host('control').ns, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) =>
      resolve({ code: err ? 1 : 0, stdout }),
    );
  });
}

/** Polls the API server's /readyz as the admin (every 250 ms) until it answers ok; rejects after `timeoutMs` with the logs' tails. */
export async function waitApiserverReady(lab: FullLab, timeoutMs: number): Promise<void> {
  const f = (name: string): string => join(lab.dir, 'control', name);
  const server = `https://${lab.host('control').ipv4}:6443`;
  const t0 = Date.now();
  for (;;) {
    const r = await runIn(lab, ['curl', '-s', '--max-time', '2', '--cacert', f('ca.crt'), '--cert', f('admin.crt'), '--key', f('admin.key'), `${server}/readyz`], 5000);
    if (r.code === 0 && r.stdout.trim() === 'ok') return;
    if (Date.now() - t0 > timeoutMs) throw new RealClusterError(`kube-apiserver not ready after ${timeoutMs / 1000} s:\n${logTail(lab.logPath('kube-apiserver'))}\netcd:\n${logTail(lab.logPath('etcd'))}`);
    await sleep(250);
  }
}

/** Starts the control plane; resolves once the API server is ready and the controllers made the `default` ServiceAccount. */
export async function startControlPlane(lab: FullLab, apiserverBin: string, log: (l: string) => void): Promise<ControlPlane> {
  const dir = join(lab.dir, 'control');
  mkdirSync(dir, { recursive: true });
  const control = lab.host('control');
  const pki = new Pki(dir);
  const server = `https://${control.ipv4}:6443`;
  pki.init([control.ipv4, KUBERNETES_SERVICE_IP, '127.0.0.1'], ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost']);
  const admin = { file: 'admin', cn: 'herald-admin', org: 'system:masters' };
  const kubeletClient = { file: 'apiserver-kubelet', cn: 'kube-apiserver-kubelet-client', org: 'system:masters' };
  const cm = { file: 'controller-manager', cn: 'system:kube-controller-manager' };
  const sched = { file: 'scheduler', cn: 'system:kube-scheduler' };
  for (const id of [admin, kubeletClient, cm, sched]) pki.client(id);
  const adminKubeconfig = pki.kubeconfig(admin, server);
  const cmKubeconfig = pki.kubeconfig(cm, server);
  const schedKubeconfig = pki.kubeconfig(sched, server);
  const f = (name: string): string => join(dir, name);
  const inControl = (argv: string[]): string[] => ['ip', 'netns', 'exec', control.ns, ...argv];

  // etcd on tmpfs: fsyncs on the VM's disk would slow every API write on a loaded machine.
  const etcdDataDir = `/dev/shm/herald-real-etcd-${lab.state.prefix}`;
  rmSync(etcdDataDir, { recursive: true, force: true });
  writeFileSync(f('etcd-data-dir'), etcdDataDir);
  lab.state.pids.etcd = startDetached(
    inControl(['etcd', '--name=control', `--data-dir=${etcdDataDir}`, '--listen-client-urls=http://127.0.0.1:2379', '--advertise-client-urls=http://127.0.0.1:2379', '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380', '--initial-cluster=control=http://127.0.0.1:2380', '--log-level=warn']),
    lab.logPath('etcd'),
  );
  lab.save();

  lab.state.pids['kube-apiserver'] = startDetached(
    inControl([
      apiserverBin,
      '--etcd-servers=http://127.0.0.1:2379',
      '--bind-address=0.0.0.0',
      `--advertise-address=${control.ipv4}`,
      '--secure-port=6443',
      '--insecure-port=0',
      `--tls-cert-file=${f('apiserver.crt')}`,
      `--tls-private-key-file=${f('apiserver.key')}`,
      `--client-ca-file=${f('ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${f('sa.pub')}`,
      `--service-account-signing-key-file=${f('sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      `--kubelet-client-certificate=${f('apiserver-kubelet.crt')}`,
      `--kubelet-client-key=${f('apiserver-kubelet.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--allow-privileged=true',
      `--feature-gates=${featureGatesFlag()}`,
      '--profiling=false',
      '--v=1',
    ]),
    lab.logPath('kube-apiserver'),
  );
  lab.save();
  const t0 = Date.now();
  await waitApiserverReady(lab, 120_000);
  log(`real cluster: kube-apiserver ready at ${server} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  lab.state.pids['kube-controller-manager'] = startDetached(
    inControl([
      kubeBinary(apiserverBin, 'kube-controller-manager'),
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      '--port=0',
      '--leader-elect=false',
      `--service-account-private-key-file=${f('sa.key')}`,
      `--root-ca-file=${f('ca.crt')}`,
      '--use-service-account-credentials=true',
      `--cluster-cidr=${CLUSTER_CIDRS}`,
      // The nodes' pod ranges are static (kube-node.ts's CNI config); the sizes match them.
      '--allocate-node-cidrs=false',
      '--node-cidr-mask-size-ipv4=26',
      '--node-cidr-mask-size-ipv6=64',
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      // A dead node's pods leave the endpoints after 20 s instead of 40 (node-death test).
      '--node-monitor-period=2s',
      '--node-monitor-grace-period=20s',
      `--feature-gates=${featureGatesFlag()}`,
      '--profiling=false',
      '--v=1',
    ]),
    lab.logPath('kube-controller-manager'),
  );
  lab.state.pids['kube-scheduler'] = startDetached(
    inControl([
      kubeBinary(apiserverBin, 'kube-scheduler'),
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      '--bind-address=127.0.0.1',
      '--port=0',
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ]),
    lab.logPath('kube-scheduler'),
  );
  lab.state.kubeconfig = adminKubeconfig;
  lab.save();
  // The token controller's first work: the `default` ServiceAccount with its token Secret.
  const t1 = Date.now();
  for (;;) {
    const r = await runIn(lab, [kubectlBinary(), '--kubeconfig', adminKubeconfig, 'get', 'serviceaccount', 'default', '-o', 'jsonpath={.secrets[0].name}']);
    if (r.code === 0 && r.stdout.trim()) break;
    if (Date.now() - t1 > 120_000) throw new RealClusterError(`kube-controller-manager made no default ServiceAccount in 120 s:\n${logTail(lab.logPath('kube-controller-manager'))}`);
    await sleep(250);
  }
  log(`real cluster: kube-controller-manager and kube-scheduler up after ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  return { pki, server, adminKubeconfig, etcdDataDir };
}
