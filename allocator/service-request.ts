// Turns a Service object, as the API server returns it, into what the allocator needs.
// Structural types only (no Kubernetes client imports); every field is checked at run time because
// the object comes from JSON/YAML we do not control.
import type { Family } from '../config/model.js';
import type { HeldAddresses } from './config-check.js';
import { canonicalIp, parseIp } from './ip.js';
import { metallbAnnotation } from './annotations.js';
import { backendKey, type Sharing } from './sharing.js';

/** The deprecated names (metallb.universe.tf/); the current metallb.io/ ones win when set (annotations.ts). */
export const POOL_ANNOTATION = 'metallb.universe.tf/address-pool';
export const IPS_ANNOTATION = 'metallb.universe.tf/loadBalancerIPs';

export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePortRequest {
  protocol: PortProtocol;
  port: number;
}

/** One Service's address request. */
export interface ServiceRequest {
  /** `namespace/name`. */
  key: string;
  /** One family (single-stack) or both (dual-stack: one address of each, from the same pool). */
  families: Family[];
  /** Canonical addresses the Service asks for, at most one per family. */
  requestedIps: string[];
  /** The pool the Service names, if any. */
  pool?: string;
  /** Empty or absent: no sharing. */
  sharingKey?: string;
  ports: ServicePortRequest[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  selector: Record<string, string>;
  /** The Service's labels (IPAddressPool serviceAllocation.serviceSelectors); absent: none. */
  labels?: Record<string, string>;
  /** Its Namespace's labels (serviceAllocation.namespaceSelectors); absent: not known. */
  namespaceLabels?: Record<string, string>;
}

/** The part of a core/v1 Service the allocator reads. */
export interface ServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: {
    type?: string;
    loadBalancerIP?: string;
    loadBalancerClass?: string;
    ports?: { name?: string; protocol?: string; port?: number }[];
    externalTrafficPolicy?: string;
    selector?: Record<string, string>;
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
  };
  status?: {
    loadBalancer?: {
      ingress?: { ip?: string; hostname?: string }[];
    };
  };
}

/** A Service field that cannot be turned into a request: `field` is its path in the object. */
export class ServiceRequestError extends Error {
  readonly field: string;
  readonly key: string | undefined;
  /** What is wrong with the field, without the key and field. */
  readonly problem: string;
  constructor(field: string, problem: string, key?: string) {
    super(`${key ? `${key}: ` : ''}${field}: ${problem}`);
    this.name = 'ServiceRequestError';
    this.field = field;
    this.key = key;
    this.problem = problem;
  }
}

function hasKeys(o: object): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return true;
  return false;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The map itself once every value is checked to be a string (no copy: informer objects are never
 * mutated, and copying every Service's annotations and selector cost a third of the request at a
 * restart of 100,000). A for-in walk, not Object.entries: no pair arrays.
 */
function stringMap(value: unknown, field: string, key: string | undefined): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new ServiceRequestError(field, 'must be a map of strings', key);
  for (const k in value) {
    if (Object.prototype.hasOwnProperty.call(value, k) && typeof value[k] !== 'string') throw new ServiceRequestError(`${field}["${k}"]`, 'must be a string', key);
  }
  return value as Record<string, string>;
}

/** `namespace/name` of a Service object (namespace defaults to "default"). */
export function serviceKey(svc: ServiceObject): string {
  const md: unknown = (svc as { metadata?: unknown }).metadata;
  if (!isRecord(md) || typeof md.name !== 'string' || md.name === '') {
    throw new ServiceRequestError('metadata.name', 'is required');
  }
  const ns = md.namespace === undefined || md.namespace === '' ? 'default' : md.namespace;
  if (typeof ns !== 'string') throw new ServiceRequestError('metadata.namespace', 'must be a string');
  return `${ns}/${md.name}`;
}

/** True for Services the allocator serves: type LoadBalancer without another controller's class. */
export function isLoadBalancer(svc: ServiceObject): boolean {
  return whyNotHandled(svc.spec?.type, svc.spec?.loadBalancerClass) === undefined;
}

/**
 * Why a daemon serving `lbClass` (undefined: Services without a class) does not handle a Service of
 * this type and class, or undefined if it does. The controller and the speakers ask this one rule.
 */
export function whyNotHandled(type: string | undefined, cls: string | undefined, lbClass?: string): string | undefined {
  const t = type ?? 'ClusterIP';
  if (t !== 'LoadBalancer') return `the Service is of type ${t}, not LoadBalancer`;
  if (lbClass === undefined && cls !== undefined && cls !== '') return `the Service has loadBalancerClass "${cls}", handled by another controller`;
  if (lbClass !== undefined && cls !== lbClass) {
    return cls === undefined || cls === '' ? `the Service has no loadBalancerClass (this controller handles "${lbClass}")` : `the Service has loadBalancerClass "${cls}", not "${lbClass}"`;
  }
  return undefined;
}

/** The pool a Service names by annotation (trimmed), or undefined; tolerant (a bad value names no pool). */
export function annotatedPool(annotations: unknown): string | undefined {
  if (!isRecord(annotations)) return undefined;
  const v = metallbAnnotation(annotations, 'address-pool')?.value;
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * What a Service holds per its status, as the config rule (config-check.ts) reads it, or undefined
 * when it holds nothing or is not handled by a daemon serving `lbClass`. Tolerant: a malformed
 * status entry is skipped, never thrown (the rule must not fail on another writer's garbage).
 */
export function heldByStatus(svc: ServiceObject, lbClass?: string): HeldAddresses | undefined {
  if (whyNotHandled(svc.spec?.type, svc.spec?.loadBalancerClass, lbClass) !== undefined) return undefined;
  const ingress: unknown = svc.status?.loadBalancer?.ingress;
  if (!Array.isArray(ingress)) return undefined;
  const ips = ingress.map((e: unknown) => (isRecord(e) && typeof e.ip === 'string' ? e.ip : undefined)).filter((ip): ip is string => ip !== undefined);
  if (ips.length === 0) return undefined;
  const md = svc.metadata;
  const key = `${md?.namespace || 'default'}/${md?.name ?? ''}`;
  const pool = annotatedPool(md?.annotations);
  return pool === undefined ? { key, ips } : { key, ips, pool };
}

const K8S_FAMILY: Record<string, Family> = { IPv4: 'ipv4', IPv6: 'ipv6' };

function families(spec: Record<string, unknown>, requested: { family: Family }[], key: string): Family[] {
  const policy = spec.ipFamilyPolicy;
  if (policy !== undefined && policy !== 'SingleStack' && policy !== 'PreferDualStack' && policy !== 'RequireDualStack') {
    throw new ServiceRequestError('spec.ipFamilyPolicy', `must be SingleStack, PreferDualStack or RequireDualStack, not ${JSON.stringify(policy)}`, key);
  }
  let out: Family[] = [];
  if (spec.ipFamilies !== undefined) {
    if (!Array.isArray(spec.ipFamilies) || spec.ipFamilies.length === 0 || spec.ipFamilies.length > 2) {
      throw new ServiceRequestError('spec.ipFamilies', 'must list one or two of IPv4, IPv6', key);
    }
    for (let i = 0; i < spec.ipFamilies.length; i++) {
      const f: unknown = spec.ipFamilies[i];
      const family = typeof f === 'string' && Object.prototype.hasOwnProperty.call(K8S_FAMILY, f) ? K8S_FAMILY[f] : undefined;
      if (!family) throw new ServiceRequestError(`spec.ipFamilies[${i}]`, `must be IPv4 or IPv6, not ${JSON.stringify(f)}`, key);
      if (out.includes(family)) throw new ServiceRequestError(`spec.ipFamilies[${i}]`, `lists ${String(f)} twice`, key);
      out.push(family);
    }
  } else if (requested.length > 0) {
    out = requested.map((r) => r.family);
  } else {
    // The API server fills ipFamilies; hand-written objects without it get its defaults.
    out = policy === 'RequireDualStack' ? ['ipv4', 'ipv6'] : ['ipv4'];
  }
  if (policy === 'SingleStack') out = out.slice(0, 1);
  if (policy === 'RequireDualStack' && out.length !== 2) {
    throw new ServiceRequestError('spec.ipFamilies', 'RequireDualStack needs both IPv4 and IPv6', key);
  }
  return out;
}

function requestedIps(spec: Record<string, unknown>, annotations: Record<string, string>, key: string): { family: Family; ip: string; field: string }[] {
  const fromSpec = spec.loadBalancerIP;
  const ann = metallbAnnotation(annotations, 'loadBalancerIPs');
  const fromAnnotation = ann?.value as string | undefined;
  const annField = `metadata.annotations["${ann?.key ?? IPS_ANNOTATION}"]`;
  if (fromSpec !== undefined && typeof fromSpec !== 'string') throw new ServiceRequestError('spec.loadBalancerIP', 'must be a string', key);
  const specSet = typeof fromSpec === 'string' && fromSpec !== '';
  const annotationSet = fromAnnotation !== undefined && fromAnnotation.trim() !== '';
  if (specSet && annotationSet) {
    throw new ServiceRequestError(annField, 'cannot be used together with spec.loadBalancerIP', key);
  }
  const field = specSet ? 'spec.loadBalancerIP' : annField;
  const text = specSet ? (fromSpec as string) : annotationSet ? fromAnnotation : '';
  if (text === '') return [];
  const out: { family: Family; ip: string; field: string }[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    const parsed = parseIp(part);
    if (!parsed) throw new ServiceRequestError(field, `"${part}" is not an IP address`, key);
    if (out.some((o) => o.family === parsed.family)) {
      throw new ServiceRequestError(field, `at most one ${parsed.family} address may be requested`, key);
    }
    out.push({ family: parsed.family, ip: canonicalIp(part) as string, field });
  }
  return out;
}

function ports(spec: Record<string, unknown>, key: string): ServicePortRequest[] {
  if (spec.ports === undefined || spec.ports === null) return [];
  if (!Array.isArray(spec.ports)) throw new ServiceRequestError('spec.ports', 'must be a list', key);
  return spec.ports.map((p: unknown, i: number) => {
    if (!isRecord(p)) throw new ServiceRequestError(`spec.ports[${i}]`, 'must be an object', key);
    const protocol = p.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      throw new ServiceRequestError(`spec.ports[${i}].protocol`, `must be TCP, UDP or SCTP, not ${JSON.stringify(protocol)}`, key);
    }
    const port = p.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ServiceRequestError(`spec.ports[${i}].port`, `must be an integer from 1 to 65535, not ${JSON.stringify(port)}`, key);
    }
    return { protocol, port };
  });
}

/**
 * The allocation request of a Service; throws ServiceRequestError naming the bad field.
 * `namespaceLabels`: the labels of its Namespace, when known (pools choose Services by them).
 */
export function serviceRequest(svc: ServiceObject, namespaceLabels?: Record<string, string>): ServiceRequest {
  const key = serviceKey(svc);
  const md = svc.metadata as Record<string, unknown>;
  const annotations = stringMap(md.annotations, 'metadata.annotations', key);
  const specValue: unknown = svc.spec;
  if (specValue !== undefined && !isRecord(specValue)) throw new ServiceRequestError('spec', 'must be an object', key);
  const spec = (specValue ?? {}) as Record<string, unknown>;

  const wanted = requestedIps(spec, annotations, key);
  const fams = families(spec, wanted, key);
  for (const w of wanted) {
    if (!fams.includes(w.family)) {
      throw new ServiceRequestError(w.field, `${w.ip} is ${w.family}, but the Service's IP families are ${fams.join(', ')}`, key);
    }
  }
  const etp = spec.externalTrafficPolicy ?? 'Cluster';
  if (etp !== 'Cluster' && etp !== 'Local') {
    throw new ServiceRequestError('spec.externalTrafficPolicy', `must be Cluster or Local, not ${JSON.stringify(etp)}`, key);
  }
  const request: ServiceRequest = {
    key,
    families: fams,
    requestedIps: wanted.map((w) => w.ip),
    ports: ports(spec, key),
    externalTrafficPolicy: etp,
    selector: stringMap(spec.selector, 'spec.selector', key),
  };
  const labels = stringMap(md.labels, 'metadata.labels', key);
  if (hasKeys(labels)) request.labels = labels;
  if (namespaceLabels !== undefined) request.namespaceLabels = namespaceLabels;
  const poolAnn = metallbAnnotation(annotations, 'address-pool');
  if (poolAnn !== undefined) {
    const pool = poolAnn.value as string;
    if (pool.trim() === '') throw new ServiceRequestError(`metadata.annotations["${poolAnn.key}"]`, 'must name a pool', key);
    request.pool = pool.trim();
  }
  const sharingKey = metallbAnnotation(annotations, 'allow-shared-ip')?.value as string | undefined;
  if (sharingKey !== undefined && sharingKey !== '') request.sharingKey = sharingKey;
  return request;
}

/** The addresses a Service currently holds (`status.loadBalancer.ingress[].ip`), canonical. */
export function serviceIngressIps(svc: ServiceObject): string[] {
  const key = serviceKey(svc);
  const ingress: unknown = svc.status?.loadBalancer?.ingress;
  if (ingress === undefined || ingress === null) return [];
  if (!Array.isArray(ingress)) throw new ServiceRequestError('status.loadBalancer.ingress', 'must be a list', key);
  const out: string[] = [];
  ingress.forEach((entry: unknown, i: number) => {
    if (!isRecord(entry) || entry.ip === undefined) return; // hostname-only entries are not ours
    const ip = typeof entry.ip === 'string' ? canonicalIp(entry.ip) : undefined;
    if (!ip) throw new ServiceRequestError(`status.loadBalancer.ingress[${i}].ip`, `${JSON.stringify(entry.ip)} is not an IP address`, key);
    out.push(ip);
  });
  return out;
}

/** The sharing parameters of a request; undefined when it has no sharing key. */
export function requestSharing(req: ServiceRequest): Sharing | undefined {
  if (!req.sharingKey) return undefined;
  const ports = [...new Set(req.ports.map((p) => `${p.protocol}/${p.port}`))].sort();
  return { key: req.sharingKey, backend: backendKey(req.externalTrafficPolicy, req.selector), ports };
}
