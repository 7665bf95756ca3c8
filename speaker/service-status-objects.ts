// The speaker's ServiceL2Status / ServiceBGPStatus objects (metallb.io/v1beta1, MetalLB v0.14+'s
// kinds, in the speaker's namespace): one per Service this node announces and protocol, saying the
// node, the Service and the interfaces (layer2) or BGP peers it is announced on, with MetalLB's labels
// metallb.io/node, metallb.io/service-name, metallb.io/service-namespace and, in a Pod, an owner
// reference to the speaker Pod (the garbage collector deletes them with it). Deleted when the node
// stops announcing the Service.
//
// Cost (issue #17): nothing per Service at steady state. At start one list per kind (this node's
// objects, by label); then writes only where what is stored differs from what is announced, so a
// restart that announces what it announced before writes nothing. Writes go through a token bucket
// (EventPacer: `ratePerSecond`, paused while the speaker's Lease renewals are unhealthy, one pending
// write per object, the newest state winning) and never delay an announcement.
//
// Layer2 objects carry the life they were written in (LIFE_ANNOTATION: the speaker Lease's
// acquireTime, ms): every speaker reads them as who holds which Service (layer2-holders.ts). A new
// life (restart, fenced) makes the objects of the old one hold nothing; each Service the new life
// announces again has its annotation rewritten once (a main-resource write, as for adopting the
// objects of a previous Pod), never per second. A layer2 object written for a takeover from a failed
// owner also names that owner (TAKEOVER_ANNOTATION, decided by layer2TakeoverFrom when this node
// started announcing the Service): only such objects hold.
import { createHash } from 'node:crypto';
import type { Protocol } from '../config/model.js';
import type { KubeAccess } from '../kube/access.js';
import { Backoff } from '../kube/backoff.js';
import { errorStatus, kubeRequest } from '../kube/request.js';
import type { Clock } from '../protocols/clock.js';
import { EventPacer } from './event-pacer.js';

export const NODE_LABEL = 'metallb.io/node';
export const SERVICE_NAME_LABEL = 'metallb.io/service-name';
export const SERVICE_NAMESPACE_LABEL = 'metallb.io/service-namespace';
/** On layer2 objects: the writer's life (its Lease's acquireTime, ms since the epoch, decimal). */
export const LIFE_ANNOTATION = 'herald.io/speaker-life';
/** On layer2 objects of a takeover: the failed node the writer took the Service over from. */
export const TAKEOVER_ANNOTATION = 'herald.io/took-over-from';

const KINDS: Record<Protocol, { kind: string; plural: string; prefix: string; field: 'interfaces' | 'peers' }> = {
  layer2: { kind: 'ServiceL2Status', plural: 'servicel2statuses', prefix: 'l2', field: 'interfaces' },
  bgp: { kind: 'ServiceBGPStatus', plural: 'servicebgpstatuses', prefix: 'bgp', field: 'peers' },
};

/** The speaker Pod, owner of the objects (absent outside a Pod: the objects then stay until this node's speaker deletes them). */
export interface PodRef {
  name: string;
  uid: string;
}

interface StoredObject {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { uid?: string }[] };
  status?: { node?: string; serviceName?: string; serviceNamespace?: string; interfaces?: { name?: string }[]; peers?: string[] };
}

/**
 * A resourceVersion as kept for 10,000s of objects: a number when it is a small one in canonical
 * decimal (stored in the object's field: no string per object), else the text. Only compared for
 * equality and sent back, so String() of it gives the text again.
 */
export type KeptVersion = string | number | undefined;

export function keptVersion(rv: string | undefined): KeptVersion {
  return rv !== undefined && /^[1-9]\d{0,8}$/.test(rv) ? Number(rv) : rv;
}

export function versionText(v: KeptVersion): string | undefined {
  return v === undefined ? undefined : String(v);
}

/** What inSync compares of a stored object's status: its node and interfaces (layer2) or peers (BGP). */
interface KeptStatus {
  readonly node: string | undefined;
  readonly via: readonly string[];
}

/**
 * What is kept of an object as the API returned it: the fields inSync, metadataOk and write read, in
 * one flat object (one per announced Service). The answer carries managedFields and every label and
 * annotation (1-2 kB per object), none of which is read again. Equal annotations, owner references and
 * statuses are shared with the object kept before (`last`): with 10,000s of objects they are nearly
 * all alike (one life, one Pod, one node, the same interfaces).
 */
interface Kept {
  /** Its name when it is a stray (another name than ours); ours is statusObjectName's (not kept: one string less each). */
  readonly name: string | undefined;
  readonly resourceVersion: KeptVersion;
  /** The life and takeover annotations, if any. */
  readonly annotations: Readonly<Record<string, string>> | undefined;
  /** The owner references' uids. */
  readonly owners: readonly string[] | undefined;
  readonly status: KeptStatus | undefined;
}

function kept(o: StoredObject, protocol: Protocol, stray: boolean, last: Kept | undefined): Kept {
  const md = o.metadata ?? {};
  const life = md.annotations?.[LIFE_ANNOTATION];
  const from = md.annotations?.[TAKEOVER_ANNOTATION];
  let annotations: Record<string, string> | undefined = life === undefined && from === undefined ? undefined : { ...(life !== undefined ? { [LIFE_ANNOTATION]: life } : {}), ...(from !== undefined ? { [TAKEOVER_ANNOTATION]: from } : {}) };
  const lastAnnotations = last?.annotations;
  if (annotations && lastAnnotations && lastAnnotations[LIFE_ANNOTATION] === life && lastAnnotations[TAKEOVER_ANNOTATION] === from) annotations = lastAnnotations;
  let owners: readonly string[] | undefined = md.ownerReferences?.map((r) => r.uid ?? '');
  if (owners && last?.owners && sameList(owners, last.owners)) owners = last.owners;
  const st = o.status;
  let status: KeptStatus | undefined;
  if (st) {
    const via = protocol === 'layer2' ? (st.interfaces ?? []).map((i) => i.name ?? '') : (st.peers ?? []);
    const lastSt = last?.status;
    status = lastSt && lastSt.node === st.node && sameList(lastSt.via, via) ? lastSt : { node: st.node, via };
  }
  return { name: stray ? md.name : undefined, resourceVersion: keptVersion(md.resourceVersion), annotations, owners, status };
}

/** A kept status as the API writes it (a PUT of the main resource carries it; the server ignores it there). */
function statusBody(protocol: Protocol, st: KeptStatus | undefined): StoredObject['status'] {
  if (!st) return undefined;
  const via = st.via.length === 0 ? {} : protocol === 'layer2' ? { interfaces: st.via.map((name) => ({ name })) } : { peers: [...st.via] };
  return { node: st.node, ...via };
}

export interface ServiceStatusObjectsOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  node: string;
  clock: Clock;
  pod?: PodRef;
  /** This speaker's current life (acquireTime, ms): written on layer2 objects (LIFE_ANNOTATION). Absent: not written. */
  life?: () => number;
  /** Writes per second in the long run (default 10); at most `burst` (default 10) at once. */
  ratePerSecond?: number;
  burst?: number;
  /** Start with writes held back (the speaker: until its first healthy Lease renewal). */
  paused?: boolean;
  onError: (err: unknown) => void;
  /** This node's objects were listed (`stored`: how many): from now on only differences are written. */
  onListed?: (stored: number) => void;
  /** A kind is not served (CRDs not installed, or MetalLB's older ones): said once per kind. */
  onUnavailable?: (kind: string) => void;
  /** The speaker's own string for a Service key (`namespace/name`), if it has one: shared instead of a copy per object. */
  serviceKey?: (key: string) => string | undefined;
  /** Jitter source of the retry backoff, in [0, 1) (tests). Default Math.random. */
  random?: () => number;
}

/**
 * The key of one object: a layer2 object's is the Service's `namespace/name` itself (the speaker's
 * own string, shared: no copy per announced Service), a BGP object's `bgp|namespace/name`. A Service
 * key has no '|' (DNS names), so the two cannot collide; a stray object's key adds `|<its name>`.
 */
function keyOf(protocol: Protocol, service: string): string {
  // join(): one flat string (a template's cons string is flattened into a second copy by the Map).
  return protocol === 'layer2' ? service : [protocol, service].join('|');
}

/** A stray object of this node (another name than ours) for the object `key`: deleted. */
function strayKey(key: string, name: string): string {
  return [key.includes('|') ? key : `layer2|${key}`, name].join('|');
}

function split(key: string): { protocol: Protocol; namespace: string; name: string; stray: boolean } {
  const parts = key.split('|');
  const [protocol, service] = (parts.length === 1 ? ['layer2', key] : parts) as [Protocol, string];
  const slash = service.indexOf('/');
  return { protocol, namespace: service.slice(0, slash), name: service.slice(slash + 1), stray: parts.length > 2 };
}

/** Same name on every start (so a restart finds its objects without generateName's guesswork): a hash of node and Service. */
export function statusObjectName(protocol: Protocol, node: string, service: string): string {
  return `${KINDS[protocol].prefix}-${createHash('sha256').update(`${node}\n${service}`).digest('hex').slice(0, 16)}`;
}

/** Objects per page when listing this node's objects. */
const LIST_PAGE = 500;

/** The pacer's item that takes the sweep's next key (markAll); no key is empty (a Service key has a '/'). */
const SWEEP = '';

/** What is announced for one key: the `via` list alone when it is no takeover (the usual case: no object per Service). */
type Desired = readonly string[] | { via: readonly string[]; tookOverFrom: string };

const viaOf = (d: Desired): readonly string[] => ('via' in d ? d.via : d);
const tookOverFromOf = (d: Desired | undefined): string | undefined => (d !== undefined && 'via' in d ? d.tookOverFrom : undefined);

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The parts of a kept object that are alike across nearly all of them (one life, one Pod, one node, the same interfaces): shared. */
interface KeptShape {
  readonly name: string | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  readonly owners: readonly string[] | undefined;
  readonly status: KeptStatus | undefined;
}

/**
 * One key's entry: what is announced (`want`) and, when stored, the object as kept: its
 * resourceVersion and its shape (shared with the entry before when alike: 3 fields per entry, not
 * 7; 320 kB less at 10,000 objects, heap snapshot), overwritten in place by each newer one.
 */
class Entry implements Kept {
  want: Desired | undefined = undefined;
  resourceVersion: KeptVersion = undefined;
  shape: KeptShape | undefined = undefined;

  get stored(): boolean {
    return this.shape !== undefined;
  }

  get name(): string | undefined {
    return this.shape?.name;
  }

  get annotations(): Readonly<Record<string, string>> | undefined {
    return this.shape?.annotations;
  }

  get owners(): readonly string[] | undefined {
    return this.shape?.owners;
  }

  get status(): KeptStatus | undefined {
    return this.shape?.status;
  }

  keep(k: Kept | undefined, last: KeptShape | undefined): KeptShape | undefined {
    this.resourceVersion = k?.resourceVersion;
    if (k === undefined) return (this.shape = undefined);
    const same = last !== undefined && last.name === k.name && last.annotations === k.annotations && last.owners === k.owners && last.status === k.status;
    return (this.shape = same ? last : { name: k.name, annotations: k.annotations, owners: k.owners, status: k.status });
  }
}

/**
 * What is announced and what is stored per key, in one map (10,000s of keys: a map of them costs
 * ~46 bytes a key), seen as two maps: `desired` and `stored` (an entry goes once it is in neither).
 * Exported for its tests.
 */
export class Entries {
  private readonly byKey = new Map<string, Entry>();
  private storedCount = 0;
  /** The shape kept last: the next alike shares it. */
  private lastShape: KeptShape | undefined;

  private entry(key: string): Entry {
    let e = this.byKey.get(key);
    if (e === undefined) this.byKey.set(key, (e = new Entry()));
    return e;
  }

  private dropIfEmpty(key: string, e: Entry): void {
    if (e.want === undefined && !e.stored) this.byKey.delete(key);
  }

  private *keysWhere(test: (e: Entry) => boolean): Generator<string> {
    for (const [key, e] of this.byKey) if (test(e)) yield key;
  }

  readonly desired = {
    get: (key: string): Desired | undefined => this.byKey.get(key)?.want,
    has: (key: string): boolean => this.byKey.get(key)?.want !== undefined,
    set: (key: string, want: Desired): void => {
      this.entry(key).want = want;
    },
    delete: (key: string): boolean => {
      const e = this.byKey.get(key);
      if (e?.want === undefined) return false;
      e.want = undefined;
      this.dropIfEmpty(key, e);
      return true;
    },
    keys: (): Generator<string> => this.keysWhere((e) => e.want !== undefined),
  };

  readonly stored = {
    get: (key: string): Kept | undefined => {
      const e = this.byKey.get(key);
      return e?.stored ? e : undefined;
    },
    set: (key: string, k: Kept): void => {
      const e = this.entry(key);
      if (!e.stored) this.storedCount++;
      this.lastShape = e.keep(k, this.lastShape);
    },
    delete: (key: string): boolean => {
      const e = this.byKey.get(key);
      if (!e?.stored) return false;
      this.storedCount--;
      e.keep(undefined, undefined);
      this.dropIfEmpty(key, e);
      return true;
    },
    keys: (): Generator<string> => this.keysWhere((e) => e.stored),
    size: (): number => this.storedCount,
  };
}

export class ServiceStatusObjects {
  /** Both views below, in one map: one entry per key (10,000s), not one in each of two maps. */
  private readonly entries = new Entries();
  /** What is announced: key -> interfaces or peers (sorted), and for layer2 whom it was taken over from. */
  private readonly desired = this.entries.desired;
  /** The last `via` list set: the next equal one shares it (one array for the usual same interfaces, not one per Service). */
  private lastVia: readonly string[] = [];
  /** What is stored: key -> the object as last listed, read or written (kept()). */
  private readonly stored = this.entries.stored;
  /** The object kept last: the next shares its equal parts (kept()). */
  private lastKept: Kept | undefined;
  private listed = false;
  /** Keys being compared one at a time (markAll): announced ones, and with `stored` the stored ones not announced. */
  private sweep: { stored: boolean; keys: Iterator<string> } | undefined;
  private readonly inFlight = new Set<string>();
  /** Keys changed while their write was in flight: synced again after it. */
  private readonly again = new Set<string>();
  private readonly pacer: EventPacer<string>;
  private readonly unavailable = new Set<Protocol>();
  private readonly backoff: Backoff;
  private closed = false;
  /** API writes sent (create, update, status update, delete). */
  writes = 0;

  constructor(private readonly opts: ServiceStatusObjectsOptions) {
    this.backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000, random: opts.random });
    this.pacer = new EventPacer<string>({ clock: opts.clock, send: (key) => (key === SWEEP ? this.sweepNext() : void this.sync(key)), ratePerSecond: opts.ratePerSecond ?? 10, burst: opts.burst ?? 10, paused: opts.paused ?? false, keyOf: (key) => key });
  }

  /** Objects stored now (for metrics and tests). */
  get size(): number {
    return this.stored.size();
  }

  /** Writes waiting for the pacer. */
  get queued(): number {
    return this.pacer.queued;
  }

  /**
   * This node announces `service` by `protocol` on `via` (interfaces or peers); for layer2,
   * `tookOverFrom` names the failed node it took the Service over from (written only on layer2 objects).
   */
  set(protocol: Protocol, service: string, via: readonly string[], tookOverFrom?: string): void {
    // A kind not served has no objects to write: nothing announced is kept for it (one entry per Service).
    if (this.unavailable.has(protocol)) return;
    const key = keyOf(protocol, service);
    let sorted: readonly string[] = [...via].sort();
    if (sameList(sorted, this.lastVia)) sorted = this.lastVia;
    else this.lastVia = sorted;
    const from = protocol === 'layer2' ? tookOverFrom : undefined;
    const prev = this.desired.get(key);
    if (prev && sameList(viaOf(prev), sorted) && tookOverFromOf(prev) === from) return;
    this.desired.set(key, from === undefined ? sorted : { via: sorted, tookOverFrom: from });
    this.mark(key);
  }

  /** This node no longer announces `service` by `protocol`. */
  delete(protocol: Protocol, service: string): void {
    const key = keyOf(protocol, service);
    if (!this.desired.delete(key)) return;
    this.mark(key);
  }

  /** A new life began: the layer2 objects still announced get the new life written (once each). */
  lifeChanged(): void {
    this.markAll(false);
  }

  /** Hold writes back while the speaker's Lease renewals are unhealthy (the Lease goes first). */
  setPaused(paused: boolean): void {
    this.pacer.setPaused(paused);
  }

  /** Lists this node's objects (retrying), then writes only the differences. */
  async start(): Promise<void> {
    for (const protocol of ['layer2', 'bgp'] as const) {
      for (;;) {
        if (this.closed) return;
        try {
          await this.list(protocol);
          this.backoff.reset();
          break;
        } catch (err) {
          if (errorStatus(err) === 404) {
            this.unavailable.add(protocol);
            this.opts.onUnavailable?.(KINDS[protocol].kind);
            break;
          }
          this.opts.onError(err);
          await new Promise<void>((r) => this.opts.clock.setTimeout(r, this.retryDelay(err)));
        }
      }
    }
    this.listed = true;
    for (const key of this.desired.keys()) if (this.unavailable.has(split(key).protocol)) this.desired.delete(key);
    this.opts.onListed?.(this.stored.size());
    this.markAll(true);
  }

  close(): void {
    this.closed = true;
    this.pacer.close();
  }

  private path(protocol: Protocol, name?: string): string {
    return `/apis/metallb.io/v1beta1/namespaces/${encodeURIComponent(this.opts.namespace)}/${KINDS[protocol].plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  /**
   * This node's objects of `protocol`, in pages: one answer of 10,000s of objects is a string and a
   * parse of tens of MB at once, whose buffers leave the process's RSS high long after.
   */
  private async list(protocol: Protocol): Promise<void> {
    const listed = new Map<string, Kept>();
    let cont = '';
    do {
      const q = new URLSearchParams({ labelSelector: `${NODE_LABEL}=${this.opts.node}`, limit: String(LIST_PAGE) });
      if (cont) q.set('continue', cont);
      const page = (await kubeRequest(this.opts.kubeConfig, 'GET', `${this.path(protocol)}?${q.toString()}`)) as { metadata?: { continue?: string }; items?: StoredObject[] };
      for (const o of page.items ?? []) {
        const labels = o.metadata?.labels ?? {};
        const found = [labels[SERVICE_NAMESPACE_LABEL] ?? '', labels[SERVICE_NAME_LABEL] ?? ''].join('/');
        // The speaker's own string for the Service, where it has one (a layer2 object's key is that string).
        const service = this.opts.serviceKey?.(found) ?? found;
        const key = keyOf(protocol, service);
        // Not under our name (e.g. written by MetalLB with generateName): ours replaces it.
        if (o.metadata?.name !== statusObjectName(protocol, this.opts.node, service)) listed.set(strayKey(key, o.metadata?.name ?? ''), this.kept(o, protocol, true));
        else listed.set(key, this.kept(o, protocol, false));
      }
      cont = page.metadata?.continue ?? '';
    } while (cont);
    // Applied once whole: a list failing half-way (an expired continue token) is retried from the start.
    for (const [key, o] of listed) this.stored.set(key, o);
  }

  private kept(o: StoredObject, protocol: Protocol, stray = false): Kept {
    return (this.lastKept = kept(o, protocol, stray, this.lastKept));
  }

  /**
   * Every announced key (and with `stored`, every stored one) to compare and write where it differs:
   * one sweep through them in the pacer's line, not an entry per key (a restart rewrites each of
   * 10,000s of objects once, at `ratePerSecond`: a queue of them all for minutes).
   */
  private markAll(stored: boolean): void {
    if (!this.listed || this.closed) return;
    // A sweep still under way starts over, with the stored keys if either asks for them.
    const withStored = stored || (this.sweep?.stored ?? false);
    this.sweep = { stored: withStored, keys: this.sweepKeys(withStored) };
    this.pacer.push(SWEEP, SWEEP);
  }

  private *sweepKeys(stored: boolean): Generator<string> {
    yield* this.desired.keys();
    if (stored) for (const key of this.stored.keys()) if (!this.desired.has(key)) yield key;
  }

  /** The sweep's turn in line: the next key that differs is written, and the sweep queues again behind what was marked meanwhile. */
  private sweepNext(): void {
    const sweep = this.sweep;
    if (!sweep || this.closed) return;
    // next() by hand: leaving a for-of early would end the generator.
    for (let next = sweep.keys.next(); next.done !== true; next = sweep.keys.next()) {
      const key = next.value;
      if (this.unavailable.has(split(key).protocol) || this.inSync(key)) continue;
      void this.sync(key);
      // Not from inside the pacer's hand-out: the next turn of the sweep joins the line once this one is done.
      queueMicrotask(() => {
        if (this.sweep === sweep) this.pacer.push(SWEEP, SWEEP);
      });
      return;
    }
    if (this.sweep === sweep) this.sweep = undefined;
  }

  private mark(key: string): void {
    if (!this.listed || this.closed) return;
    const p = split(key).protocol;
    if (this.unavailable.has(p)) return;
    if (this.inSync(key)) return;
    this.pacer.push(key, key);
  }

  /** Whether what is stored for `key` is what is announced (nothing to write). */
  private inSync(key: string): boolean {
    const want = this.desired.get(key);
    const have = this.stored.get(key);
    if (!want || !have) return !want && !have;
    return this.metadataOk(key, have) && have.status?.node === this.opts.node && sameList(have.status.via, viaOf(want));
  }

  /** The stored object's owner (the speaker Pod) and, for layer2, life and takeover are this speaker's. */
  private metadataOk(key: string, have: Kept): boolean {
    const owners = have.owners ?? [];
    const ownerOk = this.opts.pod ? owners.length === 1 && owners[0] === this.opts.pod.uid : true;
    const annotations = have.annotations ?? {};
    const want = this.annotations(key);
    return ownerOk && annotations[LIFE_ANNOTATION] === want[LIFE_ANNOTATION] && annotations[TAKEOVER_ANNOTATION] === want[TAKEOVER_ANNOTATION];
  }

  /** The annotations this speaker writes on the object of `key` (layer2: its life, and the takeover if any). */
  private annotations(key: string): Record<string, string> {
    const protocol = split(key).protocol;
    const life = this.lifeText(protocol);
    if (life === undefined) return {};
    const from = tookOverFromOf(this.desired.get(key));
    return from !== undefined ? { [LIFE_ANNOTATION]: life, [TAKEOVER_ANNOTATION]: from } : { [LIFE_ANNOTATION]: life };
  }

  private lifeText(protocol: Protocol): string | undefined {
    return protocol === 'layer2' && this.opts.life ? String(this.opts.life()) : undefined;
  }

  private async sync(key: string): Promise<void> {
    if (this.closed) return;
    if (this.inFlight.has(key)) {
      this.again.add(key);
      return;
    }
    this.inFlight.add(key);
    let retry: number | undefined;
    try {
      await this.write(key);
      this.backoff.reset();
    } catch (err) {
      this.opts.onError(err);
      retry = this.retryDelay(err);
    } finally {
      this.inFlight.delete(key);
    }
    if (this.closed) return;
    if (retry !== undefined) {
      this.opts.clock.setTimeout(() => this.mark(key), retry);
      return;
    }
    if (this.again.delete(key)) this.mark(key);
  }

  private retryDelay(err: unknown): number {
    return this.backoff.nextAfter(err);
  }

  private async write(key: string): Promise<void> {
    const { protocol, namespace, name, stray } = split(key);
    if (stray) {
      // A stray object of this node under another name: deleted.
      await this.remove(key, protocol);
      return;
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.inSync(key)) return;
      const want = this.desired.get(key);
      if (!want) {
        await this.remove(key, protocol);
        return;
      }
      const objName = statusObjectName(protocol, this.opts.node, `${namespace}/${name}`);
      const k = KINDS[protocol];
      const annotations = this.annotations(key);
      const metadata = {
        name: objName,
        namespace: this.opts.namespace,
        labels: { [NODE_LABEL]: this.opts.node, [SERVICE_NAME_LABEL]: name, [SERVICE_NAMESPACE_LABEL]: namespace },
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        ...(this.opts.pod ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: this.opts.pod.name, uid: this.opts.pod.uid }] } : {}),
      };
      try {
        let have = this.stored.get(key);
        if (!have) {
          this.writes++;
          const created = (await kubeRequest(this.opts.kubeConfig, 'POST', this.path(protocol), { body: { apiVersion: 'metallb.io/v1beta1', kind: k.kind, metadata, spec: {} } })) as StoredObject;
          have = this.kept(created, protocol);
          this.stored.set(key, have);
        } else if (!this.metadataOk(key, have)) {
          // A new speaker Pod adopts the objects its predecessor left (before the garbage collector
          // takes them); a new life writes itself on the objects it announces again.
          this.writes++;
          const adopted = (await kubeRequest(this.opts.kubeConfig, 'PUT', this.path(protocol, objName), {
            body: { apiVersion: 'metallb.io/v1beta1', kind: k.kind, metadata: { ...metadata, resourceVersion: versionText(have.resourceVersion) }, spec: {}, status: statusBody(protocol, have.status) },
          })) as StoredObject;
          have = this.kept(adopted, protocol);
          this.stored.set(key, have);
          if (this.inSync(key)) return;
        }
        const status = {
          node: this.opts.node,
          serviceName: name,
          serviceNamespace: namespace,
          ...(viaOf(want).length > 0 ? { [k.field]: protocol === 'layer2' ? viaOf(want).map((n) => ({ name: n })) : [...viaOf(want)] } : {}),
        };
        this.writes++;
        const written = (await kubeRequest(this.opts.kubeConfig, 'PUT', `${this.path(protocol, objName)}/status`, {
          body: { apiVersion: 'metallb.io/v1beta1', kind: k.kind, metadata: { name: objName, namespace: this.opts.namespace, resourceVersion: versionText(have.resourceVersion) }, spec: {}, status },
        })) as StoredObject;
        this.stored.set(key, this.kept(written, protocol));
        return;
      } catch (err) {
        const code = errorStatus(err);
        if (code !== 409 && code !== 404) throw err;
        // Changed, created or deleted by someone else meanwhile: read it again (404: create it).
        await this.reread(key, protocol, objName);
      }
    }
    throw new Error(`${KINDS[protocol].plural} ${this.opts.namespace} for ${namespace}/${name}: still conflicting after 5 attempts`);
  }

  private async reread(key: string, protocol: Protocol, objName: string): Promise<void> {
    try {
      this.stored.set(key, this.kept((await kubeRequest(this.opts.kubeConfig, 'GET', this.path(protocol, objName))) as StoredObject, protocol));
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
      this.stored.delete(key);
    }
  }

  private async remove(key: string, protocol: Protocol): Promise<void> {
    const have = this.stored.get(key);
    if (!have) return;
    const { namespace, name, stray } = split(key);
    const objName = stray ? have.name : statusObjectName(protocol, this.opts.node, `${namespace}/${name}`);
    if (!objName) return;
    this.writes++;
    try {
      await kubeRequest(this.opts.kubeConfig, 'DELETE', this.path(protocol, objName));
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
    }
    this.stored.delete(key);
  }
}
