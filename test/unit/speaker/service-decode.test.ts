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
    expect(svc.metadata).toEqual({ name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: '7' });
    expect({ ...svc }).toEqual({
      name: 'web',
      namespace: 'ns',
      uid: 'u1',
      rv: 7, // kept as a number (keptVersion): no string per Service
      loadBalancer: true,
      loadBalancerClass: 'herald.io/lb',
      local: true,
      ips: ['192.0.2.1', '2001:db8::1'],
      createdAt: undefined,
      pool: undefined,
      ranking: undefined,
      [OBJECT_KEY]: 'ns/web',
    });
    // No metadata object kept: built when asked.
    expect(Object.keys(svc)).not.toContain('metadata');
    expect(svc.metadata).not.toBe(svc.metadata);
    // One key string per Service, handed out to every map that keys on it.
    expect(objectKey(svc)).toBe(svc[OBJECT_KEY]);
  });

  it('reads other types and policies as not LoadBalancer / Cluster, and tolerates missing or malformed parts', () => {
    const svc = decodeSpeakerService({ metadata: { name: 'a', namespace: 'ns' }, spec: { type: 'ClusterIP', externalTrafficPolicy: 'Cluster' }, status: { loadBalancer: { ingress: 'nope' } } });
    expect(svc).toMatchObject({ loadBalancer: false, loadBalancerClass: undefined, local: false, ips: [] });
    const empty = decodeSpeakerService(null);
    expect(empty.metadata).toEqual({});
    expect(empty).toMatchObject({ loadBalancer: false, loadBalancerClass: undefined, local: false, ips: [], pool: undefined, [OBJECT_KEY]: '' });
    // A version that is not a small decimal is kept as its text.
    expect(decodeSpeakerService({ metadata: { name: 'a', namespace: 'ns', resourceVersion: '12345678901234' } }).metadata.resourceVersion).toBe('12345678901234');
    expect(decodeSpeakerService({ spec: { type: 7 }, status: { loadBalancer: { ingress: [null, { ip: 5 }] } } })).toMatchObject({ loadBalancer: false, ips: [] });
  });
});
