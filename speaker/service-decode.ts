// The speaker keeps 10,000s of Services in its informer cache but reads only a few fields of each;
// decoding the raw watch JSON into one small flat record (instead of the API's nested objects with
// managedFields, annotations, ports and the status chain) keeps the cache small.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { HeldAddresses } from '../allocator/config-check.js';
import { annotatedPool, whyNotHandled } from '../allocator/service-request.js';
import { keyOf, OBJECT_KEY } from '../kube/informer.js';

/** What the speaker reads of a Service. */
export interface SpeakerService extends KubernetesObject {
  /** Identity (the Informer keys and compares on these; Events name the Service by them). */
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  /** spec.type is LoadBalancer. */
  loadBalancer: boolean;
  /** spec.loadBalancerClass (undefined: none). */
  loadBalancerClass: string | undefined;
  /** spec.externalTrafficPolicy is Local (anything else, Cluster included, is Cluster). */
  local: boolean;
  /** The ip of each status.loadBalancer.ingress entry that has one, in status order. */
  ips: readonly string[];
  /** metadata.creationTimestamp as ms since the epoch (the API server's clock); undefined when absent or unparsable. */
  createdAt: number | undefined;
  /** The pool the Service names by annotation (the config rule checks held addresses against it). */
  pool: string | undefined;
  /** The layer2 owner's ranking of the nodes for its first VIP, cached (ServiceView.ranked, RankingCache). */
  ranking: readonly string[] | undefined;
  /** "namespace/name", built once: the informer cache, the dirty set, the trackers and the Event queue share this string. */
  readonly [OBJECT_KEY]: string;
}

type Raw = Record<string, unknown>;

const NO_IPS: readonly string[] = Object.freeze([]);

function obj(v: unknown): Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function timestamp(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The fields of a Service the speaker decides on: identity, type, class, traffic policy, ingress IPs. */
export function decodeSpeakerService(raw: unknown): SpeakerService {
  const r = obj(raw);
  const md = obj(r.metadata);
  const spec = obj(r.spec);
  const lb = obj(obj(r.status).loadBalancer);
  const ingress = Array.isArray(lb.ingress) ? lb.ingress.map((i) => str(obj(i).ip)).filter((ip): ip is string => ip !== undefined) : [];
  const name = str(md.name);
  const namespace = str(md.namespace);
  return {
    metadata: { name, namespace, uid: str(md.uid), resourceVersion: str(md.resourceVersion) },
    loadBalancer: spec.type === 'LoadBalancer',
    loadBalancerClass: str(spec.loadBalancerClass),
    local: spec.externalTrafficPolicy === 'Local',
    // slice(): filter's result keeps room for 17 elements (152 bytes per Service); the copy is exact.
    ips: ingress.length > 0 ? ingress.slice() : NO_IPS,
    createdAt: timestamp(md.creationTimestamp),
    pool: annotatedPool(md.annotations),
    ranking: undefined,
    [OBJECT_KEY]: keyOf(namespace, name),
  };
}

/** Whether a speaker serving `lbClass` handles the Service (the controller's rule, allocator/service-request.ts). */
export function handled(svc: SpeakerService, lbClass: string | undefined): boolean {
  return whyNotHandled(svc.loadBalancer ? 'LoadBalancer' : undefined, svc.loadBalancerClass, lbClass) === undefined;
}

/** What the Service holds per its status, for the shared config rule: exactly what heldByStatus gives the controller. */
export function heldOf(svc: SpeakerService, lbClass: string | undefined): HeldAddresses | undefined {
  if (!handled(svc, lbClass) || svc.ips.length === 0) return undefined;
  const key = `${svc.metadata.namespace || 'default'}/${svc.metadata.name ?? ''}`;
  return svc.pool === undefined ? { key, ips: svc.ips } : { key, ips: svc.ips, pool: svc.pool };
}
