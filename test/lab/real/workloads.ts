// Workloads on the real cluster: a Deployment of the backend image (answers "pod=<pod> node=<node>")
// behind a LoadBalancer Service that asks Herald for an address from a named pool.
import yaml from 'js-yaml';
import { NODES, type NodeName } from '../full-lab.js';
import type { RealCluster } from './real-cluster.js';

export const BACKEND_PORT = 8080;

export interface AppOptions {
  namespace: string;
  name: string;
  image: string;
  replicas: number;
  /** Herald pool (metallb.universe.tf/address-pool). */
  pool: string;
  policy?: 'Cluster' | 'Local';
  /** Pin the pods to these nodes (node affinity); default anywhere. */
  nodes?: readonly NodeName[];
  /** The Service's families: 4 (default, SingleStack IPv4), 6 (SingleStack IPv6), 'dual' (RequireDualStack, IPv4 first). */
  family?: ServiceFamily;
}

export type ServiceFamily = 4 | 6 | 'dual';

/** The 1.20 Service fields (IPv6DualStack): ipFamilyPolicy and ipFamilies. */
export function familySpec(family: ServiceFamily = 4): Record<string, unknown> {
  if (family === 4) return {};
  if (family === 6) return { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] };
  return { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] };
}

/** A LoadBalancer Service (port 80 -> the backend's 8080) for the pods labelled app=<app>, asking Herald for an address from `pool`. */
export function serviceManifest(o: { namespace: string; name: string; app: string; pool: string; policy?: 'Cluster' | 'Local'; family?: ServiceFamily }): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name, namespace: o.namespace, annotations: { 'metallb.universe.tf/address-pool': o.pool } },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: o.policy ?? 'Cluster',
      ...familySpec(o.family),
      selector: { app: o.app },
      ports: [{ name: 'http', port: 80, targetPort: BACKEND_PORT, protocol: 'TCP' }],
    },
  };
}

/** Deployment + LoadBalancer Service (port 80 -> the backend's 8080). */
export function appManifest(o: AppOptions): string {
  const labels = { app: o.name };
  const affinity = o.nodes
    ? { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [...o.nodes] }] }] } } }
    : undefined;
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...(affinity ? { affinity } : {}),
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'backend',
              image: o.image,
              imagePullPolicy: 'Never',
              ports: [{ containerPort: BACKEND_PORT }],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              ],
              readinessProbe: { httpGet: { path: '/', port: BACKEND_PORT }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
  const service = serviceManifest({ namespace: o.namespace, name: o.name, app: o.name, pool: o.pool, policy: o.policy, family: o.family });
  return `${yaml.dump(deployment)}---\n${yaml.dump(service)}`;
}

/** Applies the app and waits for its pods to be ready; resolves with the Service's first ingress IP. */
export async function deployApp(cluster: RealCluster, o: AppOptions, timeoutMs = 180_000): Promise<string> {
  await cluster.kubectl(['apply', '-f', '-'], appManifest(o));
  await cluster.kubectl(['-n', o.namespace, 'rollout', 'status', `deployment/${o.name}`, `--timeout=${Math.round(timeoutMs / 1000)}s`], undefined, timeoutMs + 10_000);
  return waitForIngress(cluster, o.namespace, o.name, timeoutMs);
}

/** The Service's first status.loadBalancer.ingress IP, once Herald has set it. */
export async function waitForIngress(cluster: RealCluster, namespace: string, name: string, timeoutMs = 60_000): Promise<string> {
  return (await waitForIngresses(cluster, namespace, name, 1, timeoutMs))[0];
}

/** The Service's status.loadBalancer.ingress IPs, once Herald has set at least `count` (2 for a dual-stack Service). */
export async function waitForIngresses(cluster: RealCluster, namespace: string, name: string, count: number, timeoutMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await cluster.kubectl(['-n', namespace, 'get', 'service', name, '-o', 'jsonpath={range .status.loadBalancer.ingress[*]}{.ip}{"\\n"}{end}']).catch(() => '');
    const ips = out.split('\n').map((l) => l.trim()).filter(Boolean);
    if (ips.length >= count) return ips;
    if (Date.now() > deadline) throw new Error(`Service ${namespace}/${name} got ${ips.length} of ${count} ingress IPs in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Node of every ready pod of the app. */
export async function readyPodNodes(cluster: RealCluster, namespace: string, app: string): Promise<NodeName[]> {
  const out = await cluster.kubectl([
    '-n',
    namespace,
    'get',
    'pods',
    '-l',
    `app=${app}`,
    '-o',
    'jsonpath={range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\\n"}{end}',
  ]);
  return out
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter(([n, ready, deleting]) => ready === 'True' && !deleting && (NODES as readonly string[]).includes(n))
    .map(([n]) => n as NodeName);
}
