import { describe, expect, it } from 'vitest';
import {
  IPS_ANNOTATION,
  POOL_ANNOTATION,
  annotatedPool,
  ServiceRequestError,
  isLoadBalancer,
  requestSharing,
  serviceIngressIps,
  serviceRequest,
  type ServiceObject,
} from '../../../allocator/service-request.js';
import { SHARING_ANNOTATION } from '../../../allocator/sharing.js';
import { annotationConflicts } from '../../../allocator/annotations.js';

function svc(spec: Record<string, unknown> = {}, annotations?: Record<string, string>, extra: Record<string, unknown> = {}): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop', ...(annotations ? { annotations } : {}) },
    spec: { type: 'LoadBalancer', ports: [{ port: 80 }], selector: { app: 'web' }, ...spec },
    ...extra,
  } as ServiceObject;
}

function fieldError(s: unknown): ServiceRequestError {
  try {
    serviceRequest(s as ServiceObject);
  } catch (e) {
    if (e instanceof ServiceRequestError) return e;
    throw e;
  }
  throw new Error('expected a ServiceRequestError');
}

describe('serviceRequest', () => {
  it('reads a plain single-stack Service with API server defaults', () => {
    expect(serviceRequest(svc({ ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' }))).toEqual({
      key: 'shop/web',
      families: ['ipv4'],
      requestedIps: [],
      ports: [{ protocol: 'TCP', port: 80 }],
      externalTrafficPolicy: 'Cluster',
      selector: { app: 'web' },
    });
    expect(serviceRequest({ metadata: { name: 'x' } }).key).toBe('default/x');
  });

  it('reads the pool, sharing key, requested addresses and ports', () => {
    const r = serviceRequest(
      svc(
        {
          ipFamilies: ['IPv6', 'IPv4'],
          ipFamilyPolicy: 'RequireDualStack',
          externalTrafficPolicy: 'Local',
          ports: [
            { port: 53, protocol: 'UDP' },
            { port: 53, protocol: 'TCP' },
          ],
        },
        { [POOL_ANNOTATION]: 'edge', [SHARING_ANNOTATION]: 'dns', [IPS_ANNOTATION]: '2001:DB8::0:1, 192.0.2.10' },
      ),
    );
    expect(r).toEqual({
      key: 'shop/web',
      families: ['ipv6', 'ipv4'],
      requestedIps: ['2001:db8::1', '192.0.2.10'],
      pool: 'edge',
      sharingKey: 'dns',
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
      externalTrafficPolicy: 'Local',
      selector: { app: 'web' },
    });
    expect(requestSharing(r)).toEqual({ key: 'dns', backend: 'Local:app=web', ports: ['TCP/53', 'UDP/53'] });
    expect(serviceRequest(svc({ loadBalancerIP: '192.0.2.9' })).requestedIps).toEqual(['192.0.2.9']);
  });

  it('derives families', () => {
    const fam = (spec: Record<string, unknown>, ann?: Record<string, string>) => serviceRequest(svc(spec, ann)).families;
    expect(fam({})).toEqual(['ipv4']);
    expect(fam({ ipFamilies: ['IPv6'] })).toEqual(['ipv6']);
    expect(fam({ ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'SingleStack' })).toEqual(['ipv6']);
    expect(fam({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' })).toEqual(['ipv4', 'ipv6']);
    expect(fam({ ipFamilyPolicy: 'RequireDualStack' })).toEqual(['ipv4', 'ipv6']);
    expect(fam({}, { [IPS_ANNOTATION]: '2001:db8::5' })).toEqual(['ipv6']);
    expect(requestSharing(serviceRequest(svc({})))).toBeUndefined();
    expect(serviceRequest(svc({}, { [SHARING_ANNOTATION]: '' })).sharingKey).toBeUndefined();
  });

  it.each([
    [{ metadata: {} }, 'metadata.name', /is required/],
    [{ metadata: { name: 'x', namespace: 3 } }, 'metadata.namespace', /must be a string/],
    [{ metadata: { name: 'x', annotations: { a: 1 } } }, 'metadata.annotations["a"]', /must be a string/],
    [{ metadata: { name: 'x' }, spec: [] }, 'spec', /must be an object/],
    [svc({ loadBalancerIP: '192.0.2.1' }, { [IPS_ANNOTATION]: '192.0.2.2' }), `metadata.annotations["${IPS_ANNOTATION}"]`, /cannot be used together with spec.loadBalancerIP/],
    [svc({}, { [IPS_ANNOTATION]: '192.0.2.1,192.0.2.2' }), `metadata.annotations["${IPS_ANNOTATION}"]`, /at most one ipv4 address/],
    [svc({}, { [IPS_ANNOTATION]: '192.0.2.300' }), `metadata.annotations["${IPS_ANNOTATION}"]`, /"192.0.2.300" is not an IP address/],
    [svc({ loadBalancerIP: 7 }), 'spec.loadBalancerIP', /must be a string/],
    [svc({ loadBalancerIP: '2001:db8::1', ipFamilies: ['IPv4'] }), 'spec.loadBalancerIP', /2001:db8::1 is ipv6, but the Service's IP families are ipv4/],
    [svc({ ipFamilies: ['IPv5'] }), 'spec.ipFamilies[0]', /must be IPv4 or IPv6/],
    [svc({ ipFamilies: ['IPv4', 'IPv4'] }), 'spec.ipFamilies[1]', /lists IPv4 twice/],
    [svc({ ipFamilies: [] }), 'spec.ipFamilies', /one or two/],
    [svc({ ipFamilies: ['IPv4'], ipFamilyPolicy: 'RequireDualStack' }), 'spec.ipFamilies', /RequireDualStack needs both/],
    [svc({ ipFamilyPolicy: 'Sometimes' }), 'spec.ipFamilyPolicy', /must be SingleStack/],
    [svc({ externalTrafficPolicy: 'Nearby' }), 'spec.externalTrafficPolicy', /must be Cluster or Local/],
    [svc({ ports: [{ port: 0 }] }), 'spec.ports[0].port', /from 1 to 65535, not 0/],
    [svc({ ports: [{ port: 80, protocol: 'ICMP' }] }), 'spec.ports[0].protocol', /TCP, UDP or SCTP/],
    [svc({ ports: 'http' }), 'spec.ports', /must be a list/],
    [svc({ ports: [null] }), 'spec.ports[0]', /must be an object/],
    [svc({ selector: { app: 1 } }), 'spec.selector["app"]', /must be a string/],
    [svc({}, { [POOL_ANNOTATION]: ' ' }), `metadata.annotations["${POOL_ANNOTATION}"]`, /must name a pool/],
  ])('rejects %j at its field', (input, field, message) => {
    const e = fieldError(input);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('names the Service in the message', () => {
    expect(fieldError(svc({ externalTrafficPolicy: 'x' })).message).toMatch(/^shop\/web: spec.externalTrafficPolicy: /);
  });

  it('reads the current addresses from the status', () => {
    const s = svc({}, undefined, { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { hostname: 'lb.example' }, { ip: '2001:DB8::1' }] } } });
    expect(serviceIngressIps(s)).toEqual(['192.0.2.1', '2001:db8::1']);
    expect(serviceIngressIps(svc())).toEqual([]);
    expect(() => serviceIngressIps(svc({}, undefined, { status: { loadBalancer: { ingress: [{ ip: 'x' }] } } }))).toThrow(
      /status.loadBalancer.ingress\[0\].ip: "x" is not an IP address/,
    );
    expect(() => serviceIngressIps(svc({}, undefined, { status: { loadBalancer: { ingress: {} } } }))).toThrow(ServiceRequestError);
  });

  it('recognizes the Services it serves', () => {
    expect(isLoadBalancer(svc())).toBe(true);
    expect(isLoadBalancer(svc({ type: 'ClusterIP' }))).toBe(false);
    expect(isLoadBalancer(svc({ loadBalancerClass: 'other.example/lb' }))).toBe(false);
  });
});

describe('MetalLB annotations under both names (metallb.io/ and metallb.universe.tf/)', () => {
  it('the current metallb.io/ names work alone', () => {
    const r = serviceRequest(svc({}, { 'metallb.io/address-pool': 'edge', 'metallb.io/allow-shared-ip': 'dns', 'metallb.io/loadBalancerIPs': '192.0.2.10' }));
    expect(r).toMatchObject({ pool: 'edge', sharingKey: 'dns', requestedIps: ['192.0.2.10'] });
  });

  it('when both are set the current name wins, even when empty (as MetalLB), and the conflict is described', () => {
    const both = {
      'metallb.io/address-pool': 'new',
      [POOL_ANNOTATION]: 'old',
      'metallb.io/loadBalancerIPs': '192.0.2.1',
      [IPS_ANNOTATION]: '192.0.2.2',
      'metallb.io/allow-shared-ip': '',
      [SHARING_ANNOTATION]: 'legacy-key',
    };
    const r = serviceRequest(svc({}, both));
    expect(r.pool).toBe('new');
    expect(r.requestedIps).toEqual(['192.0.2.1']);
    expect(r.sharingKey).toBeUndefined();
    expect(annotationConflicts(both)).toEqual([
      'metallb.io/address-pool "new" is used, not metallb.universe.tf/address-pool "old": the current name wins when both are set, as in MetalLB (remove one to silence this)',
      'metallb.io/loadBalancerIPs "192.0.2.1" is used, not metallb.universe.tf/loadBalancerIPs "192.0.2.2": the current name wins when both are set, as in MetalLB (remove one to silence this)',
      'metallb.io/allow-shared-ip "" is used, not metallb.universe.tf/allow-shared-ip "legacy-key": the current name wins when both are set, as in MetalLB (remove one to silence this)',
    ]);
    expect(annotationConflicts({ 'metallb.io/address-pool': 'a', [POOL_ANNOTATION]: 'a' })).toEqual([]);
    expect(annotationConflicts(undefined)).toEqual([]);
  });

  it('errors name the annotation actually used; the config rule reads the pool the same way', () => {
    expect(fieldError(svc({}, { 'metallb.io/address-pool': ' ', [POOL_ANNOTATION]: 'old' })).field).toBe('metadata.annotations["metallb.io/address-pool"]');
    expect(fieldError(svc({ loadBalancerIP: '192.0.2.1' }, { 'metallb.io/loadBalancerIPs': '192.0.2.2' })).field).toBe('metadata.annotations["metallb.io/loadBalancerIPs"]');
    expect(annotatedPool({ 'metallb.io/address-pool': 'new', [POOL_ANNOTATION]: 'old' })).toBe('new');
    expect(annotatedPool({ [POOL_ANNOTATION]: 'old' })).toBe('old');
  });
});
