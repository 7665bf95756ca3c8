// The spec and status of an IPv6 LoadBalancer Service that Herald's controller has allocated, as
// kube-apiserver 1.20 stores them: shared by the benches that load many such Services at once
// (controller-restart.bench.ts lists them; etcd-seed.ts writes them into etcd for speaker-rss and service-churn).
import { formatIp } from '../../allocator/ip.js';

const VIPS = 0x20010db8000100000000000000000000n;
const CLUSTER_IPS = 0x20010db8009600000000000000000000n;

/**
 * The i-th Service's spec (ClusterIP 2001:db8:96::i+2: ::1 is the `kubernetes` Service's in a cluster whose
 * range is 2001:db8:96::/108) and status (VIP 2001:db8:1::i: the lowest addresses in creation order, what a
 * cold start gave them).
 */
export function allocatedIpv6Service(i: number, selector: Record<string, string>): { spec: Record<string, unknown>; status: Record<string, unknown> } {
  const clusterIP = formatIp('ipv6', CLUSTER_IPS + BigInt(i + 2));
  return {
    spec: {
      ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }],
      selector,
      clusterIP,
      clusterIPs: [clusterIP],
      type: 'LoadBalancer',
      sessionAffinity: 'None',
      externalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv6'],
      ipFamilyPolicy: 'SingleStack',
      allocateLoadBalancerNodePorts: false,
    },
    status: { loadBalancer: { ingress: [{ ip: formatIp('ipv6', VIPS + BigInt(i)) }] } },
  };
}
