// MetalLB's IP sharing rules: Services may share an address only if they carry the same non-empty
// sharing key, have the same backends (externalTrafficPolicy Cluster with Cluster; Local only with an
// identical selector, since each node must announce exactly the endpoints both have) and use no
// (protocol, port) in common.

export const SHARING_ANNOTATION = 'metallb.universe.tf/allow-shared-ip';

export interface Sharing {
  key: string;
  /** "Cluster", or "Local:" plus the canonical selector. */
  backend: string;
  /** "TCP/80"-style, sorted, distinct. */
  ports: string[];
}

export interface SharingHolder {
  key: string;
  sharing: Sharing | undefined;
  /** A Service this controller does not handle: nobody may share its address. */
  foreign?: boolean;
  /** With `foreign`: its status still shows the address, and the write that clears it is under way. */
  clearing?: boolean;
}

export function backendKey(externalTrafficPolicy: 'Cluster' | 'Local', selector: Record<string, string>): string {
  if (externalTrafficPolicy === 'Cluster') return 'Cluster';
  const labels = Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`);
  return `Local:${labels.join(',')}`;
}

function describeBackend(backend: string): string {
  if (backend === 'Cluster') return 'externalTrafficPolicy Cluster';
  return `externalTrafficPolicy Local with selector {${backend.slice('Local:'.length)}}`;
}

/** Why `sharing` (of Service `key`) may not join `holders` on one address; undefined when it may. */
export function whyIncompatible(key: string, sharing: Sharing | undefined, holders: readonly SharingHolder[]): string | undefined {
  for (const h of holders) {
    if (h.key === key) continue;
    if (h.foreign && h.clearing) return `${h.key}'s status still shows it until the status write that clears it lands`;
    if (h.foreign) return `${h.key}, a Service this controller does not handle (another loadBalancerClass), holds it`;
    if (!h.sharing) return `${h.key} does not allow sharing (no ${SHARING_ANNOTATION} annotation)`;
    if (!sharing) return `this Service does not allow sharing (no ${SHARING_ANNOTATION} annotation)`;
    if (h.sharing.key !== sharing.key) return `sharing key "${sharing.key}" differs from ${h.key}'s "${h.sharing.key}"`;
    if (h.sharing.backend !== sharing.backend) {
      return `${describeBackend(sharing.backend)} differs from ${h.key}'s ${describeBackend(h.sharing.backend)}`;
    }
    const overlap = firstCommon(sharing.ports, h.sharing.ports);
    if (overlap) return `port ${overlap} is also used by ${h.key}`;
  }
  return undefined;
}

/** First element of two sorted string arrays in common. */
function firstCommon(a: readonly string[], b: readonly string[]): string | undefined {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) return a[i];
    if (a[i] < b[j]) i++;
    else j++;
  }
  return undefined;
}
