// The speaker keeps 10,000s of Services in its informer cache but reads only a few fields of each;
// decoding the raw watch JSON into one small flat record (instead of the API's nested objects with
// managedFields, annotations, ports and the status chain) keeps the cache small.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { HeldAddresses } from '../allocator/config-check.js';
import { annotatedPool, whyNotHandled } from '../allocator/service-request.js';
import { keyOf, OBJECT_KEY } from '../kube/informer.js';
import { keptVersion, versionText, type KeptVersion } from './service-status-objects.js';

/**
 * What the speaker reads of a Service: one flat object per cached Service (10,000s). Its metadata is
 * built when asked (the informer reads the resourceVersion on events only; Events read the identity),
 * and the resourceVersion is kept as a number when it is a small decimal (keptVersion): a metadata
 * object and a version string per Service were ~80 bytes each (~800 kB at 10,000, heap snapshot).
 */
export class SpeakerService implements KubernetesObject {
  /** "namespace/name", built once: the informer cache, the dirty set, the trackers and the Event queue share this string. */
  readonly [OBJECT_KEY]: string;
  /** The layer2 owner's ranking of the nodes for its first VIP, cached (ServiceView.ranked, RankingCache). */
  ranking: readonly string[] | undefined = undefined;

  constructor(
    /** Identity (the Informer keys and compares on these; Events name the Service by them). */
    readonly name: string | undefined,
    readonly namespace: string | undefined,
    readonly uid: string | undefined,
    private readonly rv: KeptVersion,
    /** spec.type is LoadBalancer. */
    readonly loadBalancer: boolean,
    /** spec.loadBalancerClass (undefined: none). */
    readonly loadBalancerClass: string | undefined,
    /** spec.externalTrafficPolicy is Local (anything else, Cluster included, is Cluster). */
    readonly local: boolean,
    /** The ip of each status.loadBalancer.ingress entry that has one, in status order. */
    readonly ips: readonly string[],
    /** metadata.creationTimestamp as ms since the epoch (the API server's clock); undefined when absent or unparsable. */
    readonly createdAt: number | undefined,
    /** The pool the Service names by annotation (the config rule checks held addresses against it). */
    readonly pool: string | undefined,
  ) {
    this[OBJECT_KEY] = keyOf(namespace, name);
  }

  /** Identity and version, as the Informer and the Events read them (built when asked). */
  get metadata(): { name?: string; namespace?: string; uid?: string; resourceVersion?: string } {
    return { name: this.name, namespace: this.namespace, uid: this.uid, resourceVersion: versionText(this.rv) };
  }
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
  return new SpeakerService(
    name,
    namespace,
    str(md.uid),
    keptVersion(str(md.resourceVersion)),
    spec.type === 'LoadBalancer',
    str(spec.loadBalancerClass),
    spec.externalTrafficPolicy === 'Local',
    // slice(): filter's result keeps room for 17 elements (152 bytes per Service); the copy is exact.
    ingress.length > 0 ? ingress.slice() : NO_IPS,
    timestamp(md.creationTimestamp),
    annotatedPool(md.annotations),
  );
}

/** Whether a speaker serving `lbClass` handles the Service (the controller's rule, allocator/service-request.ts). */
export function handled(svc: SpeakerService, lbClass: string | undefined): boolean {
  return whyNotHandled(svc.loadBalancer ? 'LoadBalancer' : undefined, svc.loadBalancerClass, lbClass) === undefined;
}

/** What the Service holds per its status, for the shared config rule: exactly what heldByStatus gives the controller. */
export function heldOf(svc: SpeakerService, lbClass: string | undefined): HeldAddresses | undefined {
  if (!handled(svc, lbClass) || svc.ips.length === 0) return undefined;
  const key = `${svc.namespace || 'default'}/${svc.name ?? ''}`;
  return svc.pool === undefined ? { key, ips: svc.ips } : { key, ips: svc.ips, pool: svc.pool };
}
