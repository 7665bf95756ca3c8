// EndpointSlices in whichever version the server serves, as its endpoint controller would write
// them: discovery.k8s.io/v1beta1 on 1.20 (the node in topology kubernetes.io/hostname, or in
// nodeName with the EndpointSliceNodeName gate), discovery.k8s.io/v1 from 1.21 (nodeName only;
// topology is gone) and only v1 from 1.25. Tests pick the version by discovery, as the daemons do.
import type { KubeAccess } from '../../kube/access.js';
import { discoverEndpointsApi } from '../../kube/endpoints.js';
import { kubeRequest } from '../../kube/request.js';

export type SliceApi = 'discovery.k8s.io/v1' | 'discovery.k8s.io/v1beta1';

export interface SliceEndpoint {
  ip: string;
  ready: boolean;
  node: string;
  /** v1beta1 only: name the node in topology (what 1.20's controller writes) instead of nodeName. */
  viaTopology?: boolean;
}

/** The EndpointSlice version the server serves best (fails when it serves none). */
export async function sliceApi(kc: KubeAccess): Promise<SliceApi> {
  const api = await discoverEndpointsApi(kc);
  if (api === 'v1') throw new Error('this server serves no EndpointSlice API');
  return api;
}

/** The server's minor version from /version (e.g. 20 for v1.20.2). */
export async function serverMinor(kc: KubeAccess): Promise<number> {
  const v = (await kubeRequest(kc, 'GET', '/version')) as { minor?: string };
  return Number.parseInt(v.minor ?? '', 10);
}

/** One EndpointSlice of Service `service` in the shape of `api`. */
export function endpointSlice(api: SliceApi, name: string, service: string, endpoints: readonly SliceEndpoint[], ports: readonly { name?: string; port: number; protocol: string }[] = [{ name: 'http', port: 8080, protocol: 'TCP' }]): Record<string, unknown> {
  return {
    apiVersion: api,
    kind: 'EndpointSlice',
    metadata: { name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready },
      ...(api === 'discovery.k8s.io/v1beta1' && e.viaTopology ? { topology: { 'kubernetes.io/hostname': e.node } } : { nodeName: e.node }),
    })),
  };
}

export function slicesPath(api: SliceApi, namespace: string): string {
  return `/apis/${api}/namespaces/${encodeURIComponent(namespace)}/endpointslices`;
}
