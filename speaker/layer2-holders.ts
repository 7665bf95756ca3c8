// Which nodes hold which Service, as every speaker reads it: the ServiceL2Status objects of all
// speakers (service-status-objects.ts writes this node's, one per Service it announces, with the
// life it was written in and, for a takeover, the failed node it took the Service over from). The
// layer2 owner's first tier (layer2-owner.ts): a live, eligible node holding a Service it took over,
// in its current life, keeps it, so a returning node takes nothing back even when no speaker is
// older than the Service (after a full rolling restart). Which holdings count is decided there; this
// file only indexes what the objects say.
//
// Cost: one list + watch of the kind in the speakers' namespace (one object per announced Service:
// memory grows with Services, not with time); no writes. Objects without the life annotation
// (MetalLB's own, or written by an older Herald) are not indexed.
import type { KubernetesObject } from '@kubernetes/client-node';
import { isDnsSubdomain } from '../config/dns-subdomain.js';
import type { KubeAccess } from '../kube/access.js';
import { KubeDecodeError } from '../kube/decode.js';
import { Informer, OBJECT_KEY, type InformerSource } from '../kube/informer.js';
import { errorStatus } from '../kube/request.js';
import type { Hold, Holds } from './layer2-owner.js';
import { keptVersion, LIFE_ANNOTATION, NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL, statusObjectName, TAKEOVER_ANNOTATION, versionText, type KeptVersion } from './service-status-objects.js';

/**
 * One holding: `node` announces `service` (namespace/name) since its life `life` (acquireTime, ms),
 * as one ServiceL2Status says. One flat object per ServiceL2Status (10,000s: one per announced
 * Service): the informer keeps it under the object's name (OBJECT_KEY; one namespace is watched), its
 * metadata is built when asked (the informer reads the resourceVersion on events only), the usual
 * Service held by one node is indexed by the holding itself, as its Holds, and its life and takeover
 * are one Hold shared by the holdings alike (a speaker's objects share one life): no boxed number
 * and one field less each (~240 kB at 10,000, heap snapshot).
 */
export class Holding implements KubernetesObject, Holds {
  readonly [OBJECT_KEY]: string;

  constructor(
    name: string,
    private readonly rv: KeptVersion,
    readonly node: string,
    /** The Service's key; replaced by the speaker's own string when that comes later (Layer2Holders.shareKeys). */
    public service: string,
    /** undefined: no (valid) life annotation, holds nothing. Shared: never changed. */
    readonly hold: Readonly<Hold> | undefined,
  ) {
    this[OBJECT_KEY] = name;
  }

  /** undefined: no (valid) life annotation, holds nothing. */
  get life(): number | undefined {
    return this.hold?.life;
  }

  /** The failed node it took the Service over from (TAKEOVER_ANNOTATION); undefined: none, not a node name, or no life. */
  get tookOverFrom(): string | undefined {
    return this.hold?.tookOverFrom;
  }

  get metadata(): { name: string; resourceVersion: string | undefined } {
    return { name: this[OBJECT_KEY], resourceVersion: versionText(this.rv) };
  }

  /** As the Holds of its Service when it is the only holder: one. */
  get size(): number {
    return 1;
  }

  get(node: string): Hold | undefined {
    return node === this.node ? this.hold : undefined;
  }

  *entries(): IterableIterator<[string, Hold]> {
    if (this.hold !== undefined) yield [this.node, this.hold];
  }
}

/** Decode a ServiceL2Status into what the holders tier needs (labels and the life annotation). */
export function decodeHolding(
  raw: unknown,
  service: (key: string) => string = (s) => s,
  nodeName: (name: string) => string = (n) => n,
  holdOf: (life: number, tookOverFrom: string | undefined) => Readonly<Hold> = (life, tookOverFrom) => ({ life, tookOverFrom }),
): Holding {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new KubeDecodeError('ServiceL2Status: expected an API object');
  const md = (raw as KubernetesObject).metadata ?? {};
  const labels = md.labels ?? {};
  const node = nodeName(labels[NODE_LABEL] ?? '');
  // join(): one flat string (a template's cons string is flattened into a second copy by the Map).
  const key = service([labels[SERVICE_NAMESPACE_LABEL] ?? '', labels[SERVICE_NAME_LABEL] ?? ''].join('/'));
  const text = md.annotations?.[LIFE_ANNOTATION];
  const life = text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : undefined;
  const from = md.annotations?.[TAKEOVER_ANNOTATION];
  const tookOverFrom = from !== undefined && isDnsSubdomain(from) ? from : undefined;
  // Only Herald's own objects (its name for that node and Service) count: a copy under another name holds nothing.
  const ours = node !== '' && md.name === statusObjectName('layer2', node, key);
  return new Holding(md.name ?? '', keptVersion(md.resourceVersion), node, key, ours && life !== undefined ? holdOf(life, tookOverFrom) : undefined);
}

export interface Layer2HoldersOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  /** The holders of these Services changed: decide them again. */
  onChange: (service: string) => void;
  /** The kind is not served (404: CRDs not installed) or not readable (403: RBAC without list/watch): no holders tier, said once. */
  onUnavailable: (status: 403 | 404) => void;
  onError: (err: Error) => void;
  /** The speaker's own string for a Service key, if it has one (shared instead of a copy per object). */
  serviceKey?: (key: string) => string | undefined;
  /** About this many bytes per later list page (list-pages.ts); default the informer's. */
  pageBytes?: number;
  /** The objects' source (tests); default a list + watch of the kind in `namespace`. */
  source?: InformerSource<Holding>;
}

export class Layer2Holders {
  private readonly informer: InformerSource<Holding>;
  /** Service key -> node -> what its object says (one holder: that holder alone). */
  private byService = new Map<string, Holding | SeveralHolders>();
  /** Node names seen, one string each (bounded: cleared past MAX_NODES). */
  private readonly nodes = new Map<string, string>();
  /** The Holds of the holdings, one per distinct life and takeover (bounded: cleared past MAX_HOLDS). */
  private readonly holds = new Map<string, Readonly<Hold>>();
  private unavailable = false;
  /** Resolves when the kind turns out not to be served or readable. */
  private readonly gone: Promise<void>;
  private notServed!: () => void;

  constructor(private readonly opts: Layer2HoldersOptions) {
    this.gone = new Promise<void>((resolve) => (this.notServed = resolve));
    this.informer = opts.source ?? new Informer<Holding>({
      kubeConfig: opts.kubeConfig,
      path: `/apis/metallb.io/v1beta1/namespaces/${encodeURIComponent(opts.namespace)}/servicel2statuses`,
      decode: (raw) => this.decode(raw),
      name: 'servicel2statuses',
      pageBytes: opts.pageBytes,
    });
    this.informer.on('add', (h) => this.put(undefined, h));
    this.informer.on('update', (h, old) => this.put(old, h));
    this.informer.on('delete', (h, old) => {
      this.drop(old ?? h);
      if (old && old !== h) this.drop(h);
    });
  }

  /** Resolves once synced, or once the kind turns out not to be served or readable (then nothing is held). */
  async start(): Promise<void> {
    this.informer.on('error', (err) => {
      const status = errorStatus(err);
      if ((status === 404 || status === 403) && !this.unavailable) {
        this.unavailable = true;
        void this.informer.stop();
        this.opts.onUnavailable(status);
        this.notServed();
        return;
      }
      this.opts.onError(err);
    });
    await Promise.race([this.informer.start(), this.gone]);
  }

  /**
   * Resolves once the objects were listed again after this call (the index is then at least as new
   * as the call; claim-gate.ts), or once the kind turns out not to be served or readable.
   */
  async relist(): Promise<void> {
    if (this.unavailable) return;
    await Promise.race([this.informer.relist?.() ?? Promise.resolve(), this.gone]);
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  /** The nodes with an object for `service`: the life each was written in, and whom it took the Service over from. */
  of(service: string): (Holds & { entries(): IterableIterator<[string, Hold]> }) | undefined {
    return this.byService.get(service);
  }

  /** Number of holdings indexed (for tests). */
  get size(): number {
    let n = 0;
    for (const m of this.byService.values()) n += m.size;
    return n;
  }

  /**
   * The speaker's own strings for the Service keys (`own`; called once its Services are listed, as
   * the holdings may be listed before them): the index and the holdings keep those instead of their
   * copies. One new map, not a delete and set per key: V8's table would double with the holes.
   */
  shareKeys(own: (key: string) => string | undefined): void {
    const next = new Map<string, Holding | SeveralHolders>();
    for (const [service, cur] of this.byService) {
      const key = own(service) ?? service;
      next.set(key, cur);
      if (cur instanceof Holding) cur.service = key;
      else cur.shareKey(key);
    }
    this.byService = next;
  }

  /** Decode a ServiceL2Status as the informer does: the Service key, node name and Hold shared where alike. */
  decode(raw: unknown): Holding {
    return decodeHolding(raw, (service) => this.opts.serviceKey?.(service) ?? service, (node) => this.node(node), (life, from) => this.hold(life, from));
  }

  /** One string per node name (the labels of each object are a copy each when longer than V8 interns). */
  private node(name: string): string {
    const known = this.nodes.get(name);
    if (known !== undefined) return known;
    if (this.nodes.size >= MAX_NODES) this.nodes.clear();
    this.nodes.set(name, name);
    return name;
  }

  /** One Hold per distinct life and takeover (bounded: cleared past MAX_HOLDS; frozen, as it is shared). */
  private hold(life: number, tookOverFrom: string | undefined): Readonly<Hold> {
    const key = tookOverFrom === undefined ? String(life) : [life, tookOverFrom].join(' ');
    const known = this.holds.get(key);
    if (known !== undefined) return known;
    if (this.holds.size >= MAX_HOLDS) this.holds.clear();
    const h = Object.freeze({ life, tookOverFrom });
    this.holds.set(key, h);
    return h;
  }

  private put(old: Holding | undefined, h: Holding): void {
    if (old && (old.service !== h.service || old.node !== h.node)) this.drop(old);
    const cur = this.byService.get(h.service);
    const prev = cur?.get(h.node);
    if (h.life === undefined) {
      if (prev !== undefined) this.drop(h);
      return;
    }
    const changed = prev === undefined || prev.life !== h.life || prev.tookOverFrom !== h.tookOverFrom;
    // The newest holding is indexed even when it says the same: the informer let go of the one before.
    if (cur === undefined || (cur instanceof Holding && cur.node === h.node)) this.byService.set(h.service, h);
    else if (cur instanceof Holding) this.byService.set(h.service, new SeveralHolders(cur, h));
    else cur.set(h);
    if (changed) this.opts.onChange(h.service);
  }

  private drop(h: Holding): void {
    const cur = this.byService.get(h.service);
    if (cur === undefined) return;
    if (cur instanceof Holding) {
      if (cur.node !== h.node) return;
      this.byService.delete(h.service);
    } else {
      if (!cur.delete(h.node)) return;
      const rest = cur.only();
      if (rest === null) this.byService.delete(h.service);
      else if (rest !== undefined) this.byService.set(h.service, rest);
    }
    this.opts.onChange(h.service);
  }
}

/** Node names kept interned at most (more distinct ones: the table starts over). */
const MAX_NODES = 10_000;
/** Distinct life-and-takeover pairs kept shared at most (more: the table starts over). */
const MAX_HOLDS = 10_000;

/** A Service held by several nodes (the rare case: a takeover not yet settled): node -> its holding. */
class SeveralHolders implements Holds {
  private readonly byNode = new Map<string, Holding>();

  constructor(...holdings: Holding[]) {
    for (const h of holdings) this.byNode.set(h.node, h);
  }

  get size(): number {
    return this.byNode.size;
  }

  get(node: string): Hold | undefined {
    return this.byNode.get(node)?.get(node);
  }

  *entries(): IterableIterator<[string, Hold]> {
    for (const h of this.byNode.values()) yield* h.entries();
  }

  set(h: Holding): void {
    this.byNode.set(h.node, h);
  }

  shareKey(key: string): void {
    for (const h of this.byNode.values()) h.service = key;
  }

  delete(node: string): boolean {
    return this.byNode.delete(node);
  }

  /** The one holding left (undefined: several; null: none). */
  only(): Holding | null | undefined {
    if (this.byNode.size > 1) return undefined;
    const [h] = this.byNode.values();
    return h ?? null;
  }
}
