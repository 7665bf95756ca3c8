import { describe, expect, it } from 'vitest';
import { OBJECT_KEY, objectKey } from '../../../kube/informer.js';
import { decodeSpeakerService } from '../../../speaker/service-decode.js';

describe('decodeSpeakerService', () => {
  it('keeps identity, type, class, traffic policy and ingress IPs only', () => {
    const svc = decodeSpeakerService({
      metadata: { name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: '7', annotations: { big: 'x'.repeat(1000) }, managedFields: [{}] },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerClass: 'herald.io/lb', ports: [{ port: 80 }], selector: { app: 'web' }, clusterIPs: ['10.96.0.1'] },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { hostname: 'x' }, { ip: '2001:db8::1' }] } },
    });
    expect(svc).toEqual({
      metadata: { name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: '7' },
      loadBalancer: true,
      loadBalancerClass: 'herald.io/lb',
      local: true,
      ips: ['192.0.2.1', '2001:db8::1'],
      pool: undefined,
      [OBJECT_KEY]: 'ns/web',
    });
    // One key string per Service, handed out to every map that keys on it.
    expect(objectKey(svc)).toBe(svc[OBJECT_KEY]);
  });

  it('reads other types and policies as not LoadBalancer / Cluster, and tolerates missing or malformed parts', () => {
    const svc = decodeSpeakerService({ metadata: { name: 'a', namespace: 'ns' }, spec: { type: 'ClusterIP', externalTrafficPolicy: 'Cluster' }, status: { loadBalancer: { ingress: 'nope' } } });
    expect(svc).toMatchObject({ loadBalancer: false, loadBalancerClass: undefined, local: false, ips: [] });
    expect(decodeSpeakerService(null)).toEqual({ metadata: {}, loadBalancer: false, loadBalancerClass: undefined, local: false, ips: [], pool: undefined, [OBJECT_KEY]: '' });
    expect(decodeSpeakerService({ spec: { type: 7 }, status: { loadBalancer: { ingress: [null, { ip: 5 }] } } })).toMatchObject({ loadBalancer: false, ips: [] });
  });
});
