// Herald installed into the real cluster the way users install it: real helm (v4, from the npm
// package) with the repository's chart, the locally built image (never pulled: there is no
// registry), and a MetalLB-format configInline with a layer2 pool on the node link and a bgp pool
// announced to the lab's router.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { helmBinary } from '../../tools/helm.js';
import { BGP_POOL, HERALD_NAMESPACE, L2_POOL, L2_POOL_V6, NODE_AS, ROUTER_AS } from '../full-lab.js';
import { BGP_POOL_DUAL, L2_POOL_DUAL } from '../full-kube.js';
import type { RealCluster } from './real-cluster.js';
import { RealClusterError } from './processes.js';

export const RELEASE = 'herald';
export const CHART = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'charts', 'herald');
export { HERALD_NAMESPACE };

/** IPv6 layer2 pool of 1,024 addresses on the node link, for the benchmark's 1,000 IPv6 Services. */
export const MANY_POOL_V6 = '2001:db8:0:1::1:0-2001:db8:0:1::1:3ff';

/**
 * The MetalLB-format configuration the release carries: `lan` (layer2) and `routed` (bgp); for dual
 * stack `lan6` (IPv6 layer2), `routed-dual` (bgp, an IPv4 and an IPv6 range), `lan-dual` (layer2, the
 * same) and `many6` (IPv6 layer2,
 * 1,024 addresses), with the router's IPv6 address as a second peer (IPv6 routes over IPv6 sessions).
 */
export function configInline(cluster: RealCluster): Record<string, unknown> {
  const router = cluster.lab.host('router');
  // A short hold time: a dead node's session (and, after the graceful-restart time, its routes) goes in seconds.
  const peer = (address: string): Record<string, unknown> => ({ 'peer-address': address, 'peer-asn': ROUTER_AS, 'my-asn': NODE_AS, 'hold-time': '9s' });
  return {
    peers: [peer(router.ipv4), peer(router.ipv6)],
    'address-pools': [
      { name: 'lan', protocol: 'layer2', addresses: [L2_POOL] },
      { name: 'routed', protocol: 'bgp', addresses: [BGP_POOL] },
      { name: 'lan6', protocol: 'layer2', addresses: [L2_POOL_V6] },
      { name: 'routed-dual', protocol: 'bgp', addresses: [...BGP_POOL_DUAL] },
      { name: 'lan-dual', protocol: 'layer2', addresses: [...L2_POOL_DUAL] },
      { name: 'many6', protocol: 'layer2', addresses: [MANY_POOL_V6] },
    ],
  };
}

/** Chart values: the local image (repository:tag split), never pulled, plus `extra` merged on top. */
export function releaseValues(cluster: RealCluster, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const [repository, tag] = colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
  return {
    fullnameOverride: 'herald',
    image: { repository, tag, pullPolicy: 'Never' },
    configInline: configInline(cluster),
    ...extra,
  };
}

/** helm <args> against the cluster (run in the control namespace); rejects with helm's stderr. */
export function helm(cluster: RealCluster, args: string[], timeoutMs = 360_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', cluster.lab.host('control').ns, helmBinary(), '--kubeconfig', cluster.kubeconfig, ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: join(cluster.dir, 'helm', 'cache'), HELM_CONFIG_HOME: join(cluster.dir, 'helm', 'config'), HELM_DATA_HOME: join(cluster.dir, 'helm', 'data') } },
      (err, stdout, stderr) => {
        if (err) reject(new RealClusterError(`helm ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      },
    );
  });
}

export function valuesFile(cluster: RealCluster, values: Record<string, unknown>, name: string): string {
  const path = join(cluster.dir, `${name}.values.yaml`);
  writeFileSync(path, yaml.dump(values));
  return path;
}

/** `helm install --wait` (creates the namespace); resolves with the seconds it took. */
export async function helmInstall(cluster: RealCluster, values: Record<string, unknown>, name = 'install'): Promise<number> {
  const t0 = Date.now();
  await helm(cluster, ['install', RELEASE, CHART, '--namespace', HERALD_NAMESPACE, '--create-namespace', '--values', valuesFile(cluster, values, name), '--wait', '--timeout', '5m']);
  return (Date.now() - t0) / 1000;
}

/** `helm upgrade --wait` with new values (and `extraArgs`, e.g. --force-conflicts); resolves with the seconds it took. */
export async function helmUpgrade(cluster: RealCluster, values: Record<string, unknown>, name = 'upgrade', extraArgs: string[] = []): Promise<number> {
  const t0 = Date.now();
  await helm(cluster, ['upgrade', RELEASE, CHART, '--namespace', HERALD_NAMESPACE, '--values', valuesFile(cluster, values, name), '--wait', '--timeout', '5m', ...extraArgs]);
  return (Date.now() - t0) / 1000;
}

/** `helm uninstall --wait`; resolves with the seconds it took. */
export async function helmUninstall(cluster: RealCluster): Promise<number> {
  const t0 = Date.now();
  await helm(cluster, ['uninstall', RELEASE, '--namespace', HERALD_NAMESPACE, '--wait', '--timeout', '3m']);
  return (Date.now() - t0) / 1000;
}
