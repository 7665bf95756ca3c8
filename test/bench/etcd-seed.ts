// Services written straight into etcd, as kube-apiserver 1.20 stores them (JSON: the API server runs with
// --storage-media-type=application/json), before kube-apiserver starts: creating 10,000-100,000 through
// the API takes minutes to a quarter of an hour here (100-190 creates/s). Two variants:
// - allocated (speaker-rss.bench.ts, service-churn.bench.ts): as Herald's controller would have left them,
//   a status address and the pool annotation each, plus an EndpointSlice with one ready endpoint on `node`;
// - unallocated (services.bench.ts, the controller's cold start): as a user's create leaves them, status
//   `loadBalancer: {}` and no EndpointSlice (the controller reads none).
// Also the CPU time of a process those benches watch.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { formatIp } from '../../allocator/ip.js';
import type { KubeAccess } from '../../kube/access.js';
import { kubeRequest } from '../../kube/request.js';
import type { TestCluster } from '../cluster/cluster.js';
import { speakerConfigYaml } from '../cluster/speaker-process.js';
import { allocatedIpv6Service } from './allocated-service.js';

const CLUSTER_IPS = 0x20010db8009600000000000000000000n;
/** etcd's default --max-txn-ops. */
const TXN_OPS = 128;
const TIME = '2026-12-06T17:00:00Z';

const uid = (kind: number, i: number): string => `6f1c${kind}${i.toString(16).padStart(3, '0').slice(-3)}-1a2b-4c3d-8e9f-${i.toString(16).padStart(12, '0')}`;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** What a seeded Service looks like: allocated by Herald (with an EndpointSlice), or fresh from a user's create. */
export type SeedVariant = 'allocated' | 'unallocated';

/** etcd keys and values of Services svc-0 .. svc-(n-1) in `ns` and, if allocated, their EndpointSlices (1.20 stores discovery.k8s.io/v1beta1). */
function* serviceObjects(ns: string, node: string, n: number, variant: SeedVariant): Generator<[string, string]> {
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    const { spec, status } = allocatedIpv6Service(i, { app: name });
    if (variant === 'unallocated') {
      const svc = { kind: 'Service', apiVersion: 'v1', metadata: { name, namespace: ns, uid: uid(1, i), creationTimestamp: TIME }, spec, status: { loadBalancer: {} } };
      yield [`/registry/services/specs/${ns}/${name}`, JSON.stringify(svc)];
      continue;
    }
    const svc = { kind: 'Service', apiVersion: 'v1', metadata: { name, namespace: ns, uid: uid(1, i), creationTimestamp: TIME, annotations: { 'metallb.io/ip-allocated-from-pool': 'v6' } }, spec, status };
    const slice = {
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1beta1',
      metadata: { name: `${name}-abcde`, namespace: ns, uid: uid(2, i), creationTimestamp: TIME, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv6',
      endpoints: [{ addresses: [formatIp('ipv6', CLUSTER_IPS + 0x10000000n + BigInt(i))], conditions: { ready: true }, topology: { 'kubernetes.io/hostname': node } }],
      ports: [{ name: '', protocol: 'TCP', port: 80 }],
    };
    yield [`/registry/services/specs/${ns}/${name}`, JSON.stringify(svc)];
    yield [`/registry/endpointslices/${ns}/${name}-abcde`, JSON.stringify(slice)];
  }
}

/** Writes keys and values into etcd through its JSON gateway, TXN_OPS per transaction. */
export async function putAll(etcdEndpoint: string, pairs: Iterable<[string, string]>): Promise<void> {
  let batch: object[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const res = await fetch(`${etcdEndpoint}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success: batch }) });
    if (!res.ok) throw new Error(`etcd txn: ${res.status} ${await res.text()}`);
    batch = [];
  };
  for (const [key, value] of pairs) {
    batch.push({ requestPut: { key: b64(key), value: b64(value) } });
    if (batch.length === TXN_OPS) await flush();
  }
  await flush();
}

/** Writes the n Services of serviceObjects into etcd. */
function seedServices(etcdEndpoint: string, ns: string, node: string, n: number, variant: SeedVariant): Promise<void> {
  return putAll(etcdEndpoint, serviceObjects(ns, node, n, variant));
}

/** The ClusterIP range of a cluster started with `--service-cluster-ip-range` set to it: the seeded ClusterIPs are marked in its bitmap. */
export const SEEDED_CLUSTER_IP_RANGE = '2001:db8:96::/108';
/**
 * kube-apiserver's arguments for every seeding bench (TestCluster.start's extraApiserverArgs): JSON storage (what
 * the seeding writes), the ClusterIP range whose bitmap markClusterIps fills (100,000 ClusterIPs: a /108 of the
 * documentation prefix, the API server's largest) and no node ports (100,000 do not fit a node-port range).
 */
export const SEEDED_APISERVER_ARGS: readonly string[] = ['--storage-media-type=application/json', `--service-cluster-ip-range=${SEEDED_CLUSTER_IP_RANGE}`, '--feature-gates=ServiceLBNodePortControl=true'];
const SERVICE_IPS_KEY = '/registry/ranges/serviceips';
/** ClusterIPs kube-apiserver 1.20 hands out of an IPv6 range, however large the range. */
export const MAX_IPV6_CLUSTER_IPS = 65_534;

/**
 * Marks the seeded Services' ClusterIPs allocated in kube-apiserver's bitmap (the RangeAllocation it keeps at
 * SERVICE_IPS_KEY), when its range is SEEDED_CLUSTER_IP_RANGE. Without it its repair loop finds n ClusterIPs it
 * did not allocate and writes a Warning Event for each (ClusterIPNotAllocated): 100,000 Event writes inside the
 * API server while the bench measures something else. Offsets 0..n: the `kubernetes` Service's ::1 and the
 * Services' ::2 .. ::n+1 (allocatedIpv6Service); the bitmap is Go's big.Int bytes, big-endian, bit k = offset k.
 * Returns whether the bitmap was written (not with another range). A ClusterIP out of the range (another
 * range, or past MAX_IPV6_CLUSTER_IPS) makes the repair loop warn about that Service at every pass (every
 * 3 minutes: ClusterIPOutOfRange), an Event write each inside the API server.
 */
async function markClusterIps(etcdEndpoint: string, n: number): Promise<boolean> {
  const res = await fetch(`${etcdEndpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64(SERVICE_IPS_KEY) }) });
  if (!res.ok) throw new Error(`etcd range: ${res.status} ${await res.text()}`);
  const value = ((await res.json()) as { kvs?: { value: string }[] }).kvs?.[0]?.value;
  if (value === undefined) return false;
  const stored = JSON.parse(Buffer.from(value, 'base64').toString()) as { range?: string; data?: string };
  if (stored.range !== SEEDED_CLUSTER_IP_RANGE) return false;
  // kube-apiserver 1.20 caps an IPv6 range at 65,536 addresses (k8s.io/utils/net RangeSize), network and last
  // excluded: offsets 0..65,533. Services past it have ClusterIPs out of its range (stated by the benches).
  const bits = Math.min(n + 1, MAX_IPV6_CLUSTER_IPS);
  const data = Buffer.alloc(Math.ceil(bits / 8), 0xff);
  if (bits % 8 !== 0) data[0] = (1 << bits % 8) - 1;
  const put = await fetch(`${etcdEndpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64(SERVICE_IPS_KEY), value: b64(JSON.stringify({ ...stored, data: data.toString('base64') })) }) });
  if (!put.ok) throw new Error(`etcd put: ${put.status} ${await put.text()}`);
  return true;
}

/**
 * The namespaces `herald` (with a layer2 pool `v6` of 2001:db8:1::/96) and `ns`, then, with kube-apiserver
 * stopped, n Services of `ns` seeded into etcd (allocated unless told), their ClusterIPs marked allocated (the
 * cluster started with SEEDED_APISERVER_ARGS; throws otherwise); returns the seconds the seeding took. The caller starts
 * kube-apiserver again (its start-up lists them all: the ClusterIP repair loop).
 */
export async function seedStoppedCluster(cluster: TestCluster, access: KubeAccess, ns: string, node: string, n: number, variant: SeedVariant = 'allocated'): Promise<number> {
  for (const name of ['herald', ns]) await kubeRequest(access, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  const applied = spawnSync('kubectl', ['--kubeconfig', cluster.kubeconfig, 'apply', '-f', '-'], {
    input: speakerConfigYaml('herald', { v6: { protocol: 'layer2', addresses: ['2001:db8:1::/96'] } }),
    encoding: 'utf8',
  });
  if (applied.status !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
  await cluster.stopApiserver();
  const t = performance.now();
  await seedServices(cluster.etcdEndpoint, ns, node, n, variant);
  // Not marked, the repair loop writes a Warning Event per Service every 3 minutes (ClusterIPNotAllocated / OutOfRange).
  if (!(await markClusterIps(cluster.etcdEndpoint, n))) throw new Error(`seeding: the cluster's ClusterIP range is not ${SEEDED_CLUSTER_IP_RANGE} (start it with SEEDED_APISERVER_ARGS)`);
  return (performance.now() - t) / 1000;
}

/** CPU seconds (user + system) a process used so far, from /proc/PID/stat; NaN once it exited. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // Fields after the command's ")": utime and stime are the 12th and 13th, in clock ticks (USER_HZ 100).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
