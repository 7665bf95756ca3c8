// Two peers a node would open the same BGP session for. A node holds one session per peer address and
// port, so such a pair would collapse into one (or, in MetalLB, fight): identical peers are refused as
// MetalLB v0.12 does ("peer #N already exists"); so are two that differ but could both select one node.
import { Issues } from './issues.js';
import type { Peer } from './model.js';
import { nodeSelection, selectionsCanShareNode, type NodeSelection } from './selectors.js';

export interface LocatedPeer {
  peer: Peer;
  path: string;
}

/** Bounds the pairwise comparison a hostile document can cause (real configs have a few per address). */
export const MAX_PEERS_PER_SESSION = 1000;

/** JSON with object keys sorted: equal for equal peers whatever order their labels were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function checkPeerConflicts(peers: readonly LocatedPeer[], issues: Issues): void {
  const bySession = new Map<string, { located: LocatedPeer; canonical: string; selection?: NodeSelection }[]>();
  for (const located of peers) {
    const { peer, path } = located;
    const key = `${peer.peerAddress} ${peer.peerPort}`;
    const same = bySession.get(key) ?? [];
    bySession.set(key, same);
    const what = `peer ${peer.peerAddress} port ${peer.peerPort}`;
    if (same.length >= MAX_PEERS_PER_SESSION) {
      if (same.length === MAX_PEERS_PER_SESSION) issues.add(path, `more than ${MAX_PEERS_PER_SESSION} peers with address ${peer.peerAddress} and port ${peer.peerPort}`);
      same.push({ located, canonical: '' });
      continue;
    }
    const text = canonical(peer);
    const identical = same.find((s) => s.canonical === text);
    const selection = nodeSelection(peer.nodeSelectors);
    const shared = identical ?? same.find((s) => s.selection && selectionsCanShareNode(s.selection, selection));
    if (identical) {
      issues.add(path, `${what} is identical to ${identical.located.path}; remove one`);
    } else if (shared) {
      issues.add(
        path,
        `${what} is also configured at ${shared.located.path}, and a node can match the node-selectors of both: ` +
          'a node opens one session per peer address and port; merge them, or give them node-selectors no node matches together',
      );
    }
    same.push({ located, canonical: text, selection });
  }
}
