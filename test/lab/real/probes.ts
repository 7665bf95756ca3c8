// What the client and kubectl see of Herald on the real cluster: ARP answers, curl through a VIP,
// a curl loop counting failures, the speaker pods. Shared by real-cluster.test.ts and the
// real-cluster benchmark (test/bench/real-cluster.bench.ts).
import { NODES, type NodeName } from '../full-lab.js';
import { HERALD_NAMESPACE } from './herald-release.js';
import type { RealCluster } from './real-cluster.js';

/** Every MAC that answers one or two ARP requests from the client for `vip` (normally exactly one). */
export async function arpMacs(cluster: RealCluster, vip: string): Promise<string[]> {
  const r = await cluster.lab.exec('client', 'arping', ['-c', '2', '-w', '3', '-I', 'eth0', vip], 8000);
  return [...new Set([...r.stdout.matchAll(/reply from \S+ \[([0-9a-f:]{17})\]/gi)].map((m) => m[1].toLowerCase()))];
}

export function nodeOfMac(cluster: RealCluster, mac: string): NodeName | undefined {
  return NODES.find((n) => cluster.lab.host(n).mac.toLowerCase() === mac.toLowerCase());
}

/** The node whose MAC answers ARP for `vip` (exactly one answering MAC), or null. */
export async function arpOwner(cluster: RealCluster, vip: string): Promise<NodeName | null> {
  const macs = await arpMacs(cluster, vip);
  return macs.length === 1 ? (nodeOfMac(cluster, macs[0]) ?? null) : null;
}

/** Every MAC that answers one Neighbor Solicitation (ndisc6) from the client for an IPv6 `vip`. */
export async function ndpMacs(cluster: RealCluster, vip: string): Promise<string[]> {
  const r = await cluster.lab.exec('client', 'ndisc6', ['-m', '-r', '1', '-w', '1500', vip, 'eth0'], 5000);
  return [...new Set([...r.stdout.matchAll(/Target link-layer address:\s*([0-9A-Fa-f:]{17})/g)].map((m) => m[1].toLowerCase()))];
}

/** The node whose MAC answers NDP for an IPv6 `vip` (exactly one answering MAC), or null. */
export async function ndpOwner(cluster: RealCluster, vip: string): Promise<NodeName | null> {
  const macs = await ndpMacs(cluster, vip);
  return macs.length === 1 ? (nodeOfMac(cluster, macs[0]) ?? null) : null;
}

/** The node the client's neighbour entry (ARP or NDP) for `vip` points at (by MAC), or null (no entry, FAILED, unknown MAC). */
export async function clientNeighbour(cluster: RealCluster, vip: string): Promise<NodeName | null> {
  const r = await cluster.lab.exec('client', 'ip', [vip.includes(':') ? '-6' : '-4', 'neigh', 'show', vip, 'dev', 'eth0'], 5000);
  const mac = /lladdr ([0-9a-f:]{17})/i.exec(r.stdout)?.[1];
  return mac ? (nodeOfMac(cluster, mac) ?? null) : null;
}

/** One GET from the client (`curl -6` to an IPv6 VIP): the backend's "pod=<pod> node=<node>" or null. */
export async function curl(cluster: RealCluster, vip: string): Promise<string | null> {
  const url = vip.includes(':') ? ['-6', '-g', `http://[${vip}]/`] : [`http://${vip}/`];
  const r = await cluster.lab.exec('client', 'curl', ['-s', '--max-time', '2', ...url], 5000);
  return r.code === 0 && r.stdout.startsWith('pod=') ? r.stdout.trim() : null;
}

/**
 * Curls each VIP from the client in a loop until stopped; counts the failures. Each probe is a new
 * TCP connection through the VIP, the node's kube-proxy and a pod.
 */
export function prober(cluster: RealCluster, vips: string[]): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async (): Promise<void> => {
    while (running) {
      for (const vip of vips) {
        const t = Date.now();
        if (await curl(cluster, vip)) ok++;
        else failed.push(`${vip} at ${new Date(t).toISOString()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

export interface HeraldPod {
  name: string;
  node: string;
  ready: boolean;
  /** containerd's id of the pod's first container ('' before it runs). */
  containerId: string;
}

/** The Herald pods of one component (`speaker` or `controller`). */
export async function heraldPods(cluster: RealCluster, component: 'speaker' | 'controller'): Promise<HeraldPod[]> {
  const out = await cluster.kubectl([
    '-n',
    HERALD_NAMESPACE,
    'get',
    'pods',
    '-l',
    `app.kubernetes.io/component=${component}`,
    '-o',
    'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].containerID} {.metadata.deletionTimestamp}{"\\n"}{end}',
  ]);
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map(([name, node, ready, id, deleting]) => ({ name, node, ready: ready === 'True' && !deleting, containerId: (id ?? '').replace(/^containerd:\/\//, '') }));
}

export const speakerPods = (cluster: RealCluster): Promise<HeraldPod[]> => heraldPods(cluster, 'speaker');
