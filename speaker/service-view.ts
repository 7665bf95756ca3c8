// The minimal view of a Service and its endpoints that the speaker's decisions need. The kube
// layer builds these from Service status and EndpointSlices; the decisions never see Kubernetes types.

export type TrafficPolicy = 'Cluster' | 'Local';

export interface ServiceView {
  /** "namespace/name": the key used for logs, metrics and announcer calls. */
  key: string;
  /** The VIPs from status.loadBalancer.ingress, in status order; the first one keys the layer2 owner hash. */
  ips: readonly string[];
  /** Name of the pool the VIPs came from. */
  pool: string;
  externalTrafficPolicy: TrafficPolicy;
  /** metadata.creationTimestamp, ms since the epoch (the layer2 owner's first tier, layer2-owner.ts); undefined when unknown. */
  createdAt?: number;
  /**
   * Where the layer2 owner's ranking cache may keep this Service's ranking (RankingCache.rank): an
   * object that outlives the view and is replaced when the first VIP changes (the speaker's decoded
   * Service). Absent: the cache keeps it per VIP, in a map of its own.
   */
  ranked?: RankingSlot;
}

/** A field for a cached ranking of the nodes (layer2-owner.ts RankingCache), on an object of the caller's. */
export interface RankingSlot {
  ranking: readonly string[] | undefined;
}

export interface EndpointsView {
  /** Ready endpoints per node name (nodes with none may be absent or 0). */
  readyByNode: ReadonlyMap<string, number>;
  /** Ready endpoints without a node name (possible in EndpointSlices): count for Cluster policy only. */
  readyWithoutNode?: number;
}

export const NO_ENDPOINTS: EndpointsView = { readyByNode: new Map() };

/** True when the Service has a ready endpoint on any node (or on no known node). */
export function hasReadyEndpoint(endpoints: EndpointsView): boolean {
  if ((endpoints.readyWithoutNode ?? 0) > 0) return true;
  for (const count of endpoints.readyByNode.values()) if (count > 0) return true;
  return false;
}

/** True when the Service has a ready endpoint on this node. */
export function hasReadyEndpointOn(endpoints: EndpointsView, node: string): boolean {
  return (endpoints.readyByNode.get(node) ?? 0) > 0;
}

/**
 * Build an EndpointsView from the ready endpoints per node as the kube layer reports them (node name,
 * '' for endpoints that name no node -> count). Structural, so this file does not import Kubernetes code.
 */
export function endpointsView(readyByNode: ReadonlyMap<string, number>): EndpointsView {
  const byNode = new Map<string, number>();
  let readyWithoutNode = 0;
  for (const [node, ready] of readyByNode) {
    if (node === '') readyWithoutNode += ready;
    else if (ready > 0) byNode.set(node, ready);
  }
  return { readyByNode: byNode, readyWithoutNode };
}
