// The daemons' config source: the ConfigMap (watched by name) and the metallb.io objects of the same
// namespace (IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, Community, BFDProfile, and
// the basic-auth Secrets BGPPeers name), each kind watched by an informer at the version the API
// server serves (discovery: BGPPeer v1beta2, else v1beta1). Both are watched whichever source is
// active, so a config in both is seen (and refused by the verdict). Which objects Events go on.
import type { KubernetesObject, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { CR_KINDS, CRD_GROUP, servedVersions } from './crds.js';
import { decodeObject } from './decode.js';
import type { EventSubject } from './events.js';
import { Informer, objectKey, type InformerSource } from './informer.js';
import { configMapInformer } from './informers.js';
import { errorStatus, kubeRequest } from './request.js';
import { retrying, type RetryOptions } from './retry.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** A metallb.io object as cached: the fields the compiler reads. */
export interface CrItem extends KubernetesObject {
  spec?: unknown;
}

/** A kind the API server serves, at the version Herald watches. */
export interface CrResource {
  kind: string;
  plural: string;
  version: string;
}

/** The CRDs are missing (crds source): the daemon waits for them, retrying discovery. */
export class CrdsMissingError extends Error {
  override readonly name = 'CrdsMissingError';
}

/**
 * The metallb.io kinds the API server serves, each at the first of its versions in Herald's order
 * of preference that is served (BGPPeer: v1beta2, then v1beta1). Empty when the group is not served.
 */
export async function discoverCrResources(kc: KubeAccess): Promise<CrResource[]> {
  let group: { versions?: { version?: string }[] };
  try {
    group = (await kubeRequest(kc, 'GET', `/apis/${CRD_GROUP}`)) as typeof group;
  } catch (err) {
    if (errorStatus(err) === 404) return [];
    throw err;
  }
  const served = new Map<string, Set<string>>();
  for (const v of group.versions ?? []) {
    if (!v.version) continue;
    const list = (await kubeRequest(kc, 'GET', `/apis/${CRD_GROUP}/${v.version}`)) as { resources?: { name?: string }[] };
    served.set(v.version, new Set((list.resources ?? []).map((r) => r.name ?? '')));
  }
  const out: CrResource[] = [];
  for (const k of CR_KINDS) {
    const version = servedVersions(k.kind).find((v) => served.get(v)?.has(k.plural));
    if (version) out.push({ ...k, version });
  }
  return out;
}

/**
 * An update that changed neither the spec nor the labels (the compiler reads nothing else): a status
 * write, or metadata such as annotations. The API server bumps `generation` for spec changes only (the
 * CRDs have a status subresource).
 */
function sameSpecAndLabels(obj: CrItem, old: CrItem | undefined): boolean {
  const a = obj.metadata;
  const b = old?.metadata;
  if (!a || !b || a.generation === undefined || a.generation !== b.generation) return false;
  return JSON.stringify(a.labels ?? {}) === JSON.stringify(b.labels ?? {});
}

/** The kinds watched, for the `configSource` log line (at start and after a change). */
export function describeResources(rs: readonly CrResource[]): string {
  return rs.map((r) => `${r.plural}/${r.version}`).join(', ') || 'no metallb.io kinds served';
}

/** `now served: ...; no longer served: ...`. */
export function describeChange(change: ResourcesChange): string {
  return [change.added.length > 0 ? `now served: ${describeResources(change.added)}` : '', change.removed.length > 0 ? `no longer served: ${describeResources(change.removed)}` : ''].filter(Boolean).join('; ');
}

export interface ConfigSourceOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  configMap: string;
  source: 'configmap' | 'crds';
  /** Discovery is retried until it succeeds (and, for crds, until every kind is served). */
  retry?: RetryOptions;
  /** A ConfigMap source to use instead of an informer (tests inject their own API). */
  configMaps?: InformerSource<V1ConfigMap>;
  /** Replaces discovery (tests: an injected API that serves no metallb.io kinds returns []). */
  discover?: () => Promise<CrResource[]>;
  /**
   * How often discovery runs again after the start (default 30 s, Kubernetes' own discovery resync;
   * 0: never), so CRDs installed or deleted while the daemon runs are watched or dropped without a
   * restart. One GET of /apis/metallb.io per period (and one per served version).
   */
  rediscoverMs?: number;
  clock?: Clock;
}

/** The metallb.io kinds watched changed at runtime (CRDs installed or deleted). */
export interface ResourcesChange {
  added: CrResource[];
  removed: CrResource[];
}

export class ConfigSource {
  readonly configMaps: InformerSource<V1ConfigMap>;
  private crs: { resource: CrResource; informer: Informer<CrItem> }[] = [];
  private secrets: Informer<V1Secret> | undefined;
  private readonly changeHandlers: (() => void)[] = [];
  private readonly errorHandlers: ((err: Error) => void)[] = [];
  private readonly resourceHandlers: ((change: ResourcesChange) => void)[] = [];
  private stopped = false;
  private rediscoverTimer: TimerHandle | undefined;

  constructor(private readonly opts: ConfigSourceOptions) {
    this.configMaps = opts.configMaps ?? configMapInformer(opts.kubeConfig, opts.namespace, opts.configMap);
    this.wire(this.configMaps);
  }

  get source(): 'configmap' | 'crds' {
    return this.opts.source;
  }

  /** The kinds watched and their versions (after start). */
  get resources(): readonly CrResource[] {
    return this.crs.map((c) => c.resource);
  }

  onChange(handler: () => void): this {
    this.changeHandlers.push(handler);
    return this;
  }

  /** Called after the kinds watched changed (the new informers synced); a config change is signalled too. */
  onResources(handler: (change: ResourcesChange) => void): this {
    this.resourceHandlers.push(handler);
    return this;
  }

  onError(handler: (err: Error) => void): this {
    this.errorHandlers.push(handler);
    return this;
  }

  private wire<T extends KubernetesObject>(inf: InformerSource<T>, statusOnly?: (obj: T, old: T | undefined) => boolean): void {
    const changed = (): void => {
      for (const h of this.changeHandlers) h();
    };
    inf.on('add', changed).on('delete', changed);
    inf.on('update', (obj, old) => {
      if (!statusOnly?.(obj, old)) changed();
    });
    inf.on('error', (err) => {
      for (const h of this.errorHandlers) h(err);
    });
  }

  /** Discovers the metallb.io kinds, starts every informer; resolves once all have synced. */
  async start(): Promise<void> {
    const ns = encodeURIComponent(this.opts.namespace);
    const discovered = this.discover();
    const cm = this.configMaps.start();
    const resources = await discovered;
    if (this.stopped) return;
    for (const resource of resources) this.crs.push({ resource, informer: this.crInformer(resource) });
    if (this.opts.source === 'crds') {
      // Only the type BGP passwords use (RBAC cannot narrow a list by type; the field selector does).
      this.secrets = new Informer<V1Secret>({
        kubeConfig: this.opts.kubeConfig,
        path: `/api/v1/namespaces/${ns}/secrets`,
        fieldSelector: 'type=kubernetes.io/basic-auth',
        decode: (raw) => ({ ...decodeObject<V1Secret>(raw), apiVersion: 'v1', kind: 'Secret' }),
        name: `basic-auth secrets in ${this.opts.namespace}`,
      });
      this.wire(this.secrets);
    }
    await Promise.all([cm, ...this.crs.map((c) => c.informer.start()), this.secrets?.start()]);
    this.scheduleRediscovery();
  }

  private crInformer(resource: CrResource): Informer<CrItem> {
    const informer = new Informer<CrItem>({
      kubeConfig: this.opts.kubeConfig,
      path: `/apis/${CRD_GROUP}/${resource.version}/namespaces/${encodeURIComponent(this.opts.namespace)}/${resource.plural}`,
      // Lists may leave out apiVersion and kind on items: the compiler needs both.
      decode: (raw) => ({ ...decodeObject<CrItem>(raw), apiVersion: `${CRD_GROUP}/${resource.version}`, kind: resource.kind }),
      name: `${resource.plural}.${CRD_GROUP} in ${this.opts.namespace}`,
    });
    // The controller's own IPAddressPool status writes (kube/pool-status.ts) are no config change.
    this.wire(informer, sameSpecAndLabels);
    return informer;
  }

  private scheduleRediscovery(): void {
    const every = this.opts.rediscoverMs ?? 30_000;
    if (every <= 0 || this.stopped) return;
    const clock = this.opts.clock ?? systemClock;
    this.rediscoverTimer = clock.setTimeout(() => {
      this.rediscoverTimer = undefined;
      void this.rediscover().finally(() => this.scheduleRediscovery());
    }, every);
  }

  /**
   * Discovery again: informers for kinds now served (started and synced before anyone is told), none
   * any more for kinds gone (deleting a CRD deletes its objects first, so the watch saw them go) or
   * moved to another version. A failed discovery changes nothing (the next period tries again).
   */
  async rediscover(): Promise<ResourcesChange> {
    const none: ResourcesChange = { added: [], removed: [] };
    let found: CrResource[];
    try {
      found = await (this.opts.discover ?? (() => discoverCrResources(this.opts.kubeConfig)))();
    } catch (err) {
      for (const h of this.errorHandlers) h(err as Error);
      return none;
    }
    if (this.stopped) return none;
    const same = (a: CrResource, b: CrResource): boolean => a.kind === b.kind && a.version === b.version;
    const removed = this.crs.filter((c) => !found.some((r) => same(r, c.resource)));
    const added = found.filter((r) => !this.crs.some((c) => same(r, c.resource)));
    if (removed.length === 0 && added.length === 0) return none;
    const fresh = added.map((resource) => ({ resource, informer: this.crInformer(resource) }));
    // A kind that is not served after all (deleted again meanwhile) fails its list, retried until the
    // informer syncs: given up after a period (stopping it ends its start), found again later.
    const clock = this.opts.clock ?? systemClock;
    const synced = await Promise.all(
      fresh.map(async (c) => {
        const giveUp = clock.setTimeout(() => void c.informer.stop(), Math.max(this.opts.rediscoverMs ?? 30_000, 10_000));
        try {
          await c.informer.start();
        } catch {
          // not synced: below
        } finally {
          clock.clearTimeout(giveUp);
        }
        return c.informer.hasSynced();
      }),
    );
    if (this.stopped) {
      await Promise.all(fresh.map((c) => c.informer.stop()));
      return none;
    }
    const kept = fresh.filter((_, i) => synced[i]);
    await Promise.all([...removed, ...fresh.filter((_, i) => !synced[i])].map((c) => c.informer.stop()));
    const order = (r: CrResource): number => CR_KINDS.findIndex((k) => k.kind === r.kind);
    this.crs = [...this.crs.filter((c) => !removed.includes(c)), ...kept].sort((a, b) => order(a.resource) - order(b.resource));
    const change = { added: kept.map((c) => c.resource), removed: removed.map((c) => c.resource) };
    if (change.added.length === 0 && change.removed.length === 0) return none;
    for (const h of this.resourceHandlers) h(change);
    for (const h of this.changeHandlers) h();
    return change;
  }

  /** crds: every kind must be served (retried until the CRDs are installed); configmap: whatever is served. */
  private async discover(): Promise<CrResource[]> {
    return retrying(async () => {
      const found = await (this.opts.discover ?? (() => discoverCrResources(this.opts.kubeConfig)))();
      if (this.opts.source === 'crds') {
        const missing = CR_KINDS.filter((k) => !found.some((r) => r.kind === k.kind)).map((k) => `${k.plural}.${CRD_GROUP}`);
        if (missing.length > 0) throw new CrdsMissingError(`--config-source crds, but the API server does not serve ${missing.join(', ')}: install the CRDs (charts/herald/crds/, or herald manifests --crds)`);
      }
      return found;
    }, this.opts.retry);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rediscoverTimer !== undefined) (this.opts.clock ?? systemClock).clearTimeout(this.rediscoverTimer);
    await Promise.all([this.configMaps.stop(), ...this.crs.map((c) => c.informer.stop()), this.secrets?.stop()]);
  }

  get configMap(): V1ConfigMap | undefined {
    return this.configMaps.get(`${this.opts.namespace}/${this.opts.configMap}`);
  }

  /** The informers behind the source (after start), for herald_watch_last_event_seconds. */
  informers(): InformerSource<KubernetesObject>[] {
    return [this.configMaps, ...this.crs.map((c) => c.informer), ...(this.secrets ? [this.secrets] : [])];
  }

  /** Every metallb.io object of the namespace, by kind order then name. */
  crObjects(): CrItem[] {
    return this.crs.flatMap((c) => c.informer.list());
  }

  secretObjects(): V1Secret[] {
    return this.secrets?.list() ?? [];
  }

  /** What the config rule (allocator/config-verdict.ts evaluateInput) reads: both sources' objects. */
  input():
    | { source: 'configmap'; configMap: V1ConfigMap | undefined; crs: CrItem[] }
    | { source: 'crds'; crs: CrItem[]; secrets: V1Secret[]; configMap: V1ConfigMap | undefined } {
    if (this.opts.source === 'configmap') return { source: 'configmap', configMap: this.configMap, crs: this.crObjects() };
    return { source: 'crds', crs: this.crObjects(), secrets: this.secretObjects(), configMap: this.configMap };
  }

  /** `ConfigMap ns/name` or `metallb.io objects in ns`, for logs. */
  describe(): string {
    return this.opts.source === 'configmap' ? `ConfigMap ${this.opts.namespace}/${this.opts.configMap}` : `metallb.io objects in ${this.opts.namespace}`;
  }

  /** The metallb.io object `kind` `name` as cached (namespace: the source's). */
  find(kind: string, name: string, namespace?: string): CrItem | undefined {
    const c = this.crs.find((x) => x.resource.kind === kind);
    return c?.informer.get(objectKey({ metadata: { name, namespace: namespace ?? this.opts.namespace } }));
  }

  private subjectOf(o: CrItem): EventSubject {
    return { apiVersion: o.apiVersion, kind: o.kind ?? '', name: o.metadata?.name ?? '', namespace: o.metadata?.namespace, uid: o.metadata?.uid };
  }

  private configMapSubject(): EventSubject {
    const md = this.configMap?.metadata ?? {};
    return { apiVersion: 'v1', kind: 'ConfigMap', name: md.name ?? this.opts.configMap, namespace: this.opts.namespace, uid: md.uid };
  }

  /**
   * Where an Event about the config goes. An object a CR issue names (kept as named when it was just
   * deleted: `kubectl get events` still shows it); otherwise the ConfigMap (configmap source, or a
   * ConfigMap beside the CRs), else every IPAddressPool (a CR config as a whole).
   */
  subjects(about?: { kind: string; name: string; namespace?: string }): EventSubject[] {
    if (about) {
      const o = this.find(about.kind, about.name, about.namespace);
      if (o) return [this.subjectOf(o)];
      return [{ apiVersion: `${CRD_GROUP}/${servedVersions(about.kind)[0]}`, kind: about.kind, name: about.name, namespace: about.namespace ?? this.opts.namespace }];
    }
    if (this.opts.source === 'configmap' || this.configMap) return [this.configMapSubject()];
    return this.crSubjects();
  }

  /** The metallb.io objects as a whole: every IPAddressPool, else the first object. */
  crSubjects(): EventSubject[] {
    const pools = this.crs.find((c) => c.resource.kind === 'IPAddressPool')?.informer.list() ?? [];
    return pools.length > 0 ? pools.map((p) => this.subjectOf(p)) : this.crObjects().slice(0, 1).map((o) => this.subjectOf(o));
  }
}
