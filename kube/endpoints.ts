// Which nodes have ready endpoints of a Service: the speaker announces a layer2/BGP VIP only from
// nodes with ready endpoints (externalTrafficPolicy: Local). Three API shapes carry that, depending
// on the server: EndpointSlices discovery.k8s.io/v1 (1.21+), v1beta1 (1.17-1.24), core v1 Endpoints.
// The one served best is picked at start; consumers see one shape: ready endpoints per node per Service.
import type { V1Endpoints, V1ObjectMeta } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { decodeObject } from './decode.js';
import { Informer, keyOf, OBJECT_KEY, objectKey } from './informer.js';
import type { InformerTuning } from './informers.js';
import { errorStatus, kubeRequest } from './request.js';
import { retrying, type RetryOptions } from './retry.js';

export type EndpointsApi = 'discovery.k8s.io/v1' | 'discovery.k8s.io/v1beta1' | 'v1';

/** Ready endpoints of one Service per node name ('' when the endpoint names no node); nodes without any left out. */
export type ReadyByNode = Map<string, number>;

/** The fields of an EndpointSlice (v1 or v1beta1) that readiness needs. */
export interface EndpointSliceLike {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  /**
   * The node of each ready endpoint with an address ('' when it names none), in slice order: all that
   * is kept of the endpoints (10,000s of slices are cached: their endpoint objects, address arrays and
   * address strings were ~200 bytes per slice, and the decisions read only whether a node has one).
   */
  readyNodes: readonly string[];
  /** "namespace/name", built once by decodeEndpointSlice: the cache and the Service index share it. */
  readonly [OBJECT_KEY]?: string;
  /**
   * The Service's "namespace/name" (its SERVICE_NAME_LABEL), built once by decodeEndpointSlice: the
   * Service index keys on this string instead of a copy per slice. Absent: read from the labels.
   */
  service?: string;
}

/** Label linking an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** "namespace/name" of the Service a slice belongs to (undefined without the label). */
function serviceKey(namespace: string | undefined, service: string | undefined): string | undefined {
  // join(): one flat string (a template's cons string is flattened into a second copy by the Map).
  return service ? [namespace ?? '', service].join('/') : undefined;
}

/**
 * One shared, frozen one-node list per node name (and so one copy of each name): the usual slice has
 * its ready endpoints on one node, and node names are ~10-60 characters each. Bounded: forgotten
 * when it outgrows any cluster (only sharing is lost).
 */
const ONE_NODE = new Map<string, readonly string[]>();
const ONE_NODE_MAX = 20_000;

function oneNode(node: string): readonly string[] {
  let list = ONE_NODE.get(node);
  if (list === undefined) {
    if (ONE_NODE.size >= ONE_NODE_MAX) ONE_NODE.clear();
    ONE_NODE.set(node, (list = Object.freeze([node])));
  }
  return list;
}

const NO_NODES: readonly string[] = Object.freeze([]);

/** An endpoint's node: v1's nodeName (v1beta1 with the EndpointSliceNodeName gate too), else v1beta1's topology hostname; '' for none. */
function nodeOf(e: Record<string, unknown>): string {
  const topology = typeof e.topology === 'object' && e.topology !== null ? (e.topology as Record<string, unknown>) : {};
  return str(e.nodeName) ?? str(topology['kubernetes.io/hostname']) ?? '';
}

/**
 * Raw EndpointSlice JSON of either version -> EndpointSliceLike, keeping only what readiness needs
 * (10,000s are cached): the version, the key, the Service key and the node of each ready endpoint.
 * A nil `ready` condition means ready (API contract); an endpoint without a string address counts not.
 */
export function decodeEndpointSlice(raw: unknown): EndpointSliceLike {
  const r = (raw ?? {}) as Record<string, unknown>;
  const eps = Array.isArray(r.endpoints) ? (r.endpoints as Record<string, unknown>[]) : [];
  const md = (typeof r.metadata === 'object' && r.metadata !== null ? r.metadata : {}) as Record<string, unknown>;
  const labels = typeof md.labels === 'object' && md.labels !== null ? (md.labels as Record<string, unknown>) : {};
  const namespace = str(md.namespace);
  const nodes: string[] = [];
  for (const e of eps) {
    if (typeof e !== 'object' || e === null) continue;
    const cond = (typeof e.conditions === 'object' && e.conditions !== null ? e.conditions : {}) as { ready?: unknown };
    const hasAddress = Array.isArray(e.addresses) && (e.addresses as unknown[]).some((a) => typeof a === 'string');
    if (cond.ready !== false && hasAddress) nodes.push(oneNode(nodeOf(e))[0] as string);
  }
  return {
    // Of the metadata only the version (the informer compares it): name and namespace live in the
    // key, the Service label in `service`, and nothing reads the uid (10,000s of slices are cached:
    // the name, label object and label string were ~90 bytes per slice).
    metadata: { resourceVersion: str(md.resourceVersion) },
    // slice(): a pushed-to array keeps spare room.
    readyNodes: nodes.length === 0 ? NO_NODES : nodes.length === 1 ? oneNode(nodes[0] as string) : nodes.slice(),
    [OBJECT_KEY]: keyOf(namespace, str(md.name)),
    service: serviceKey(namespace, str(labels[SERVICE_NAME_LABEL])),
  };
}

function count(map: ReadyByNode, node: string): void {
  map.set(node, (map.get(node) ?? 0) + 1);
}

/** Ready endpoints per node from the EndpointSlices of one Service (an endpoint listed in two slices counts twice). */
export function endpointsFromSlices(slices: readonly EndpointSliceLike[]): ReadyByNode {
  const out: ReadyByNode = new Map();
  for (const s of slices) for (const node of s.readyNodes) count(out, node);
  return out;
}

/** Ready endpoints (addresses) per node from a core v1 Endpoints object (an address listed twice counts once). */
export function endpointsFromEndpoints(ep: V1Endpoints | undefined): ReadyByNode {
  const out: ReadyByNode = new Map();
  const seen = new Set<string>();
  for (const subset of ep?.subsets ?? []) {
    for (const a of subset.addresses ?? []) {
      if (seen.has(a.ip)) continue;
      seen.add(a.ip);
      count(out, a.nodeName ?? '');
    }
  }
  return out;
}

/** The best endpoints API the server offers: EndpointSlice v1, else v1beta1, else core Endpoints. */
export async function discoverEndpointsApi(kc: KubeAccess): Promise<EndpointsApi> {
  for (const version of ['v1', 'v1beta1'] as const) {
    try {
      const list = (await kubeRequest(kc, 'GET', `/apis/discovery.k8s.io/${version}`)) as { resources?: { name: string }[] };
      if (list.resources?.some((r) => r.name === 'endpointslices')) return `discovery.k8s.io/${version}`;
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
    }
  }
  return 'v1';
}

type Change = (serviceKey: string) => void;

/**
 * Per-node endpoint addresses of every Service, from whichever endpoints API is served.
 * `change` fires with "namespace/name" of the Service whose endpoints changed.
 */
export class ServiceEndpointsInformer {
  private readonly handlers: Change[] = [];
  private readonly slices: Informer<EndpointSliceLike> | undefined;
  private readonly endpoints: Informer<V1Endpoints> | undefined;
  /** service key -> key of its slice, or keys when it has several (one is the common case: no Set each). */
  private sliceIndex = new Map<string, string | Set<string>>();
  /** The daemon's own string for a Service key, if it has one (shared instead of a copy per slice). */
  private readonly serviceKey: ((key: string) => string | undefined) | undefined;

  /** The informer behind it (EndpointSlices or Endpoints), for herald_watch_last_event_seconds. */
  get informer(): Informer<EndpointSliceLike> | Informer<V1Endpoints> {
    return (this.slices ?? this.endpoints) as Informer<EndpointSliceLike> | Informer<V1Endpoints>;
  }

  private constructor(
    readonly api: EndpointsApi,
    kc: KubeAccess,
    opts: InformerTuning & { namespace?: string; serviceKey?: (key: string) => string | undefined },
  ) {
    this.serviceKey = opts.serviceKey;
    const nsPath = opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : '';
    if (api === 'v1') {
      this.endpoints = new Informer<V1Endpoints>({ ...opts, kubeConfig: kc, path: `/api/v1${nsPath}/endpoints`, decode: decodeObject<V1Endpoints>, name: 'endpoints' });
      const fire = (ep: V1Endpoints): void => this.fire(objectKey(ep));
      this.endpoints.on('add', fire).on('update', fire).on('delete', fire);
    } else {
      this.slices = new Informer<EndpointSliceLike>({
        ...opts,
        kubeConfig: kc,
        path: `/apis/${api}${nsPath}/endpointslices`,
        decode: decodeEndpointSlice,
        name: `endpointslices (${api})`,
      });
      this.slices
        .on('add', (s) => this.index(s, true))
        .on('update', (s, old) => {
          if (old) this.index(old, false);
          this.index(s, true);
        })
        .on('delete', (s) => this.index(s, false));
    }
  }

  /**
   * Discovers the API (unless `api` forces one), retrying until it succeeds (`retry.onRetry`
   * reports each failure), and builds the informer; call start() next.
   */
  static async create(
    kc: KubeAccess,
    opts: InformerTuning & { api?: EndpointsApi; namespace?: string; retry?: RetryOptions; serviceKey?: (key: string) => string | undefined } = {},
  ): Promise<ServiceEndpointsInformer> {
    const { retry, ...tuning } = opts;
    const api = opts.api ?? (await retrying(() => discoverEndpointsApi(kc), retry));
    return new ServiceEndpointsInformer(api, kc, tuning);
  }

  private serviceOf(s: EndpointSliceLike): string | undefined {
    return s.service ?? serviceKey(s.metadata?.namespace, s.metadata?.labels?.[SERVICE_NAME_LABEL]);
  }

  private index(s: EndpointSliceLike, present: boolean): void {
    let svc = this.serviceOf(s);
    if (!svc) return;
    // The daemon's own string where it has one: the slice and the index share it, not a copy each.
    const shared = present ? this.serviceKey?.(svc) : undefined;
    if (shared !== undefined) {
      svc = shared;
      if (s.service !== undefined) s.service = shared;
    }
    const key = objectKey(s);
    const cur = this.sliceIndex.get(svc);
    if (present) {
      if (cur === undefined || cur === key) this.sliceIndex.set(svc, key);
      else if (typeof cur === 'string') this.sliceIndex.set(svc, new Set([cur, key]));
      else cur.add(key);
    } else if (cur === key) this.sliceIndex.delete(svc);
    else if (typeof cur !== 'string' && cur !== undefined) {
      cur.delete(key);
      if (cur.size === 1) this.sliceIndex.set(svc, cur.values().next().value as string);
    }
    this.fire(svc);
  }

  /**
   * The daemon's own strings for the Service keys (`own`; a daemon calls it once its Services are
   * listed, as the slices may be listed before them): the index and the slices keep those instead of
   * their copies. One new map, not a delete and set per key: V8's table would double with the holes.
   */
  shareKeys(own: (key: string) => string | undefined): void {
    const next = new Map<string, string | Set<string>>();
    for (const [svc, cur] of this.sliceIndex) {
      const key = own(svc) ?? svc;
      next.set(key, cur);
      for (const k of typeof cur === 'string' ? [cur] : cur) {
        const slice = this.slices?.get(k);
        if (slice?.service !== undefined) slice.service = key;
      }
    }
    this.sliceIndex = next;
  }

  private fire(serviceKey: string): void {
    for (const h of this.handlers) h(serviceKey);
  }

  on(event: 'change', handler: Change): this {
    if (event === 'change') this.handlers.push(handler);
    return this;
  }

  onError(handler: (err: Error) => void): this {
    (this.slices ?? this.endpoints)?.on('error', handler);
    return this;
  }

  async start(): Promise<void> {
    await (this.slices ?? this.endpoints)?.start();
  }

  async stop(): Promise<void> {
    await (this.slices ?? this.endpoints)?.stop();
  }

  /** Ready endpoints per node of Service "namespace/name" ('' for those naming no node; nodes without any left out). */
  readyByNode(serviceKey: string): ReadyByNode {
    if (this.endpoints) return endpointsFromEndpoints(this.endpoints.get(serviceKey));
    const entry = this.sliceIndex.get(serviceKey);
    if (entry === undefined) return new Map();
    const keys = typeof entry === 'string' ? [entry] : entry;
    const slices: EndpointSliceLike[] = [];
    for (const k of keys) {
      const s = this.slices?.get(k);
      if (s) slices.push(s);
    }
    return endpointsFromSlices(slices);
  }
}
