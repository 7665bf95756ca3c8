// Nodes excluded from load balancing: a Node labelled node.kubernetes.io/exclude-from-external-load-balancers
// (any value; the well-known Kubernetes label MetalLB and Cilium honour) announces nothing, neither
// as a layer2 owner nor over BGP. Each speaker sees only its own Node, so it publishes the label on its
// speaker Lease (LEASE_EXCLUDED_LABEL), and every speaker, itself included, decides from the Leases it
// observes: all switch on the same observed write, so no VIP is answered by two nodes meanwhile.

export const EXCLUDE_NODE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** Set on a speaker's Lease while its Node carries EXCLUDE_NODE_LABEL. */
export const LEASE_EXCLUDED_LABEL = 'herald.io/excluded-from-load-balancers';

/** Whether a Node with these labels is excluded (the label present, whatever its value). */
export function nodeExcluded(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels !== undefined && Object.prototype.hasOwnProperty.call(labels, EXCLUDE_NODE_LABEL);
}

/** Whether a speaker Lease with these labels says its node is excluded. */
export function leaseExcluded(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[LEASE_EXCLUDED_LABEL] === 'true';
}

/** A Lease's labels with the exclusion label set or removed. */
export function leaseLabels(labels: Readonly<Record<string, string>> | undefined, excluded: boolean): Record<string, string> {
  const out = { ...labels };
  if (excluded) out[LEASE_EXCLUDED_LABEL] = 'true';
  else delete out[LEASE_EXCLUDED_LABEL];
  return out;
}
