// The speaker keeps 10,000s of Services in its informer cache but reads only a few fields of each;
// decoding the raw watch JSON into just those (instead of full client-node model objects with
// managedFields, annotations and ports) keeps the cache small and skips the model serializer.
import type { V1Service } from '@kubernetes/client-node';

type Raw = Record<string, unknown>;

function obj(v: unknown): Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The fields of a Service the speaker decides on: identity, type, class, traffic policy, ingress IPs. */
export function decodeSpeakerService(raw: unknown): V1Service {
  const r = obj(raw);
  const md = obj(r.metadata);
  const spec = obj(r.spec);
  const lb = obj(obj(r.status).loadBalancer);
  const ingress = Array.isArray(lb.ingress) ? lb.ingress.map((i) => str(obj(i).ip)).filter((ip): ip is string => ip !== undefined) : [];
  return {
    metadata: { name: str(md.name), namespace: str(md.namespace), uid: str(md.uid), resourceVersion: str(md.resourceVersion) },
    spec: { type: str(spec.type), loadBalancerClass: str(spec.loadBalancerClass), externalTrafficPolicy: str(spec.externalTrafficPolicy) },
    status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } },
  };
}
