// The full lab's Kubernetes side: Herald's RBAC from `herald manifests`, ServiceAccount kubeconfigs
// for the daemons, Node objects, the pool ConfigMap, Services, and the kubelet/kube-proxy stand-ins
// (EndpointSlices for pretend pods, VIPs on the nodes' kube-ipvs0). All through kubectl in the
// control namespace, since the API server is reachable only inside the lab.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { HERALD_CLI } from './bgp-speaker.js';
import { BGP_POOL, CONFIG_MAP, HERALD_NAMESPACE, L2_POOL, L2_POOL_V6, NODE_AS, NODES, ROUTER_AS, type FullLab, type HostName, type NodeName } from './full-lab.js';

const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/**
 * Applies the install's Namespace, ServiceAccounts and RBAC (no Deployment/DaemonSet: the lab runs the
 * daemons itself); with `configSource: 'crds'` or `crds` also the metallb.io CRDs, as `herald manifests` renders them.
 */
export async function installRbac(lab: FullLab, configSource: 'configmap' | 'crds' = 'configmap', crds = configSource === 'crds'): Promise<string> {
  const all = execFileSync(process.execPath, [HERALD_CLI, 'manifests', '--namespace', HERALD_NAMESPACE, '--config-source', configSource], { encoding: 'utf8' });
  const kinds = crds ? new Set([...RBAC_KINDS, 'CustomResourceDefinition']) : RBAC_KINDS;
  const docs = yaml.loadAll(all).filter((d): d is { kind: string } => typeof d === 'object' && d !== null && kinds.has((d as { kind?: string }).kind ?? ''));
  const out = await lab.kubectl(['apply', '-f', '-'], docs.map((d) => yaml.dump(d)).join('---\n'));
  if (crds) await lab.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  return out;
}

/** A kubeconfig file authenticated as ServiceAccount `sa` (token from the TokenRequest API). */
export async function serviceAccountKubeconfig(lab: FullLab, sa: string): Promise<string> {
  const token = (await lab.kubectl(['create', 'token', sa, '-n', HERALD_NAMESPACE, '--duration', '24h'])).trim();
  const admin = yaml.load(readFileSync(lab.state.kubeconfig, 'utf8')) as { clusters: unknown[] };
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: admin.clusters,
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: sa, context: { cluster: 'herald-test', user: sa } }],
    'current-context': sa,
  };
  const path = join(lab.dir, `${sa}.kubeconfig`);
  writeFileSync(path, yaml.dump(cfg), { mode: 0o600 });
  return path;
}

export async function createNodes(lab: FullLab): Promise<void> {
  const docs = NODES.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n, labels: { 'kubernetes.io/hostname': n } },
    status: { addresses: [{ type: 'InternalIP', address: lab.host(n).ipv4 }] },
  }));
  await lab.kubectl(['apply', '-f', '-'], docs.map((d) => yaml.dump(d)).join('---\n'));
}

/** The demo's MetalLB-format ConfigMap: one layer2 and one bgp pool, the router as BGP peer. */
export function poolConfigMap(lab: FullLab): string {
  return configMapYaml(poolConfig(lab));
}

/** Herald's ConfigMap (herald-system/herald-config) holding `config` verbatim, valid or not. */
export function configMapYaml(config: string): string {
  return yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIG_MAP, namespace: HERALD_NAMESPACE }, data: { config } });
}

/** IPv6 BGP pool (inside full-router.ts's BGP_NET_V6, 2001:db8:203::/120). */
export const BGP_POOL_V6 = '2001:db8:203::10-2001:db8:203::1f';
/** Dual-stack bgp pool: an IPv4 and an IPv6 range, both routed by the router. */
export const BGP_POOL_DUAL = ['203.0.113.20-203.0.113.29', '2001:db8:203::20-2001:db8:203::2f'] as const;
/** Dual-stack layer2 pool, on the lab link. */
export const L2_POOL_DUAL = ['192.0.2.210-192.0.2.219', '2001:db8:0:1::210-2001:db8:0:1::219'] as const;

/**
 * poolConfig plus the router's IPv6 address as a second peer (IPv6 routes over an IPv6 session, as
 * with MetalLB; e2e-wire.test.ts sends them over the IPv4 session instead) and pools `routed6` (IPv6 bgp), `routed-dual` (bgp) and `lan-dual` (layer2).
 * For a router with enableRouterIpv6 (full-router.ts).
 */
export function dualStackConfig(lab: FullLab): string {
  return [
    poolConfig(lab).trimEnd(),
    '- name: routed6',
    '  protocol: bgp',
    '  addresses:',
    `  - ${BGP_POOL_V6}`,
    '- name: routed-dual',
    '  protocol: bgp',
    '  addresses:',
    ...BGP_POOL_DUAL.map((r) => `  - ${r}`),
    '- name: lan-dual',
    '  protocol: layer2',
    '  addresses:',
    ...L2_POOL_DUAL.map((r) => `  - ${r}`),
    '',
  ]
    .join('\n')
    .replace('address-pools:', [`- peer-address: ${lab.host('router').ipv6}`, `  peer-asn: ${ROUTER_AS}`, `  my-asn: ${NODE_AS}`, 'address-pools:'].join('\n'));
}

/** The demo's config text (poolConfigMap's data.config). */
export function poolConfig(lab: FullLab): string {
  return [
    'peers:',
    `- peer-address: ${lab.host('router').ipv4}`,
    `  peer-asn: ${ROUTER_AS}`,
    `  my-asn: ${NODE_AS}`,
    'address-pools:',
    '- name: lan',
    '  protocol: layer2',
    '  addresses:',
    `  - ${L2_POOL}`,
    '- name: lan6',
    '  protocol: layer2',
    '  addresses:',
    `  - ${L2_POOL_V6}`,
    '- name: routed',
    '  protocol: bgp',
    '  addresses:',
    `  - ${BGP_POOL}`,
    '',
  ].join('\n');
}

/** A LoadBalancer Service on port 80 asking for `pool` (IPv6 single stack with `family` 6, RequireDualStack with 'dual'). */
export function serviceYaml(name: string, namespace: string, pool: string, opts: { policy?: 'Cluster' | 'Local'; family?: 4 | 6 | 'dual' } = {}): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, annotations: { 'metallb.universe.tf/address-pool': pool } },
    spec: {
      type: 'LoadBalancer',
      selector: { app: name },
      externalTrafficPolicy: opts.policy ?? 'Cluster',
      ...(opts.family === 6 ? { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] } : {}),
      ...(opts.family === 'dual' ? { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } : {}),
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  });
}

let sliceApi: string | undefined;

/** The endpoint controller's part: one EndpointSlice for Service `name` with a ready pod on each of `nodes`. */
export async function placePods(lab: FullLab, namespace: string, name: string, nodes: readonly NodeName[]): Promise<void> {
  sliceApi ??= (await lab.kubectl(['api-versions'])).split('\n').includes('discovery.k8s.io/v1') ? 'discovery.k8s.io/v1' : 'discovery.k8s.io/v1beta1';
  const slice = {
    apiVersion: sliceApi,
    kind: 'EndpointSlice',
    metadata: { name: `${name}-lab`, namespace, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    // The pretend pod's address is its node's: the backend listens in the node namespace.
    endpoints: nodes.map((n) => ({
      addresses: [lab.host(n).ipv4],
      conditions: { ready: true },
      nodeName: n,
      ...(sliceApi === 'discovery.k8s.io/v1beta1' ? { topology: { 'kubernetes.io/hostname': n } } : {}),
    })),
  };
  await lab.kubectl(['apply', '-f', '-'], yaml.dump(slice));
}

/** The Service's assigned IPs (status.loadBalancer.ingress), empty until the controller wrote them. */
export async function serviceIps(lab: FullLab, namespace: string, name: string): Promise<string[]> {
  const out = await lab.kubectl(['get', 'svc', '-n', namespace, name, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}']);
  return out.split(/\s+/).filter(Boolean);
}

/** Waits until the Service has at least `want` assigned IPs (two for a dual-stack one); resolves with all of them. */
export async function waitForServiceIps(lab: FullLab, namespace: string, name: string, timeoutMs = 30_000, want = 1): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A kubectl that fails (the API server busy or coming back) is asked again, like an empty answer.
    let failed = '';
    const ips = await serviceIps(lab, namespace, name).catch((e: unknown) => ((failed = ` (last kubectl error: ${(e as Error).message})`), []));
    if (ips.length >= want) return ips;
    if (Date.now() > deadline) {
      const got = ips.length ? `${ips.length} of ${want} addresses` : 'no address';
      throw new Error(`Service ${namespace}/${name} got ${got} in ${timeoutMs} ms${failed}; controller log:\n${tail(lab.logPath('controller'))}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A LoadBalancer Service as the tests need it: applied (serviceYaml), a ready pod on each of `pods`
 * (every node unless given), its IPs from the controller (both for 'dual'), each on every node's
 * kube-ipvs0. Resolves with the IPs.
 */
export async function createService(
  lab: FullLab,
  namespace: string,
  name: string,
  pool: string,
  opts: { pods?: readonly NodeName[]; policy?: 'Cluster' | 'Local'; family?: 4 | 6 | 'dual' } = {},
): Promise<string[]> {
  await lab.kubectl(['apply', '-f', '-'], serviceYaml(name, namespace, pool, opts));
  await placePods(lab, namespace, name, opts.pods ?? NODES);
  const ips = await waitForServiceIps(lab, namespace, name, 30_000, opts.family === 'dual' ? 2 : 1);
  for (const ip of ips) await addVipToNodes(lab, ip);
  return ips;
}

/** kube-proxy's part: the VIP on every node's kube-ipvs0 (Cluster policy: any node serves it). */
export async function addVipToNodes(lab: FullLab, vip: string): Promise<void> {
  const plen = vip.includes(':') ? 128 : 32;
  for (const n of NODES) await lab.mustExec(n, 'ip', ['addr', 'replace', `${vip}/${plen}`, 'dev', 'kube-ipvs0', ...(plen === 128 ? ['nodad'] : [])]);
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface LabEvent {
  /** The Event object's own name. */
  id: string;
  type: string;
  reason: string;
  message: string;
  /** Who wrote it (reportingController, else source.component). */
  reporter: string;
  /** Which instance of the reporter (reportingInstance, else source.host). */
  instance: string;
  kind: string;
  name: string;
  count: number;
}

/** `kubectl get events -n <namespace>`, as records (core v1 view: events.k8s.io notes show as message). */
export async function events(lab: FullLab, namespace: string): Promise<LabEvent[]> {
  const list = JSON.parse(await lab.kubectl(['get', 'events', '-n', namespace, '-o', 'json'])) as {
    items: Array<{
      metadata?: { name?: string };
      type?: string;
      reason?: string;
      message?: string;
      count?: number;
      reportingComponent?: string;
      reportingInstance?: string;
      source?: { component?: string; host?: string };
      involvedObject?: { kind?: string; name?: string };
      series?: { count?: number };
    }>;
  };
  return list.items.map((e) => ({
    id: e.metadata?.name ?? '',
    type: e.type ?? '',
    reason: e.reason ?? '',
    message: e.message ?? '',
    reporter: e.reportingComponent || e.source?.component || '',
    instance: e.reportingInstance || e.source?.host || '',
    kind: e.involvedObject?.kind ?? '',
    name: e.involvedObject?.name ?? '',
    count: e.series?.count ?? e.count ?? 1,
  }));
}

/** One sample of a daemon's Prometheus metric (first series of `name`), scraped inside its namespace; null if absent. */
export async function daemonMetric(lab: FullLab, host: HostName, port: number, name: string): Promise<number | null> {
  const r = await lab.exec(host, 'curl', ['-s', '--max-time', '2', `http://127.0.0.1:${port}/metrics`], 5000);
  if (r.code !== 0) return null;
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(r.stdout);
  return m ? Number(m[1]) : null;
}
