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
import { Informer, type InformerSource } from '../kube/informer.js';
import { errorStatus } from '../kube/request.js';
import type { Hold, Holds } from './layer2-owner.js';
import { LIFE_ANNOTATION, NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL, statusObjectName, TAKEOVER_ANNOTATION } from './service-status-objects.js';

/** One holding: `node` announces `service` (namespace/name) since its life `life` (acquireTime, ms). */
export interface Holding extends KubernetesObject {
  node: string;
  service: string;
  /** undefined: no (valid) life annotation, holds nothing. */
  life: number | undefined;
  /** The failed node it took the Service over from (TAKEOVER_ANNOTATION); undefined: none, or not a node name. */
  tookOverFrom: string | undefined;
}

/** Decode a ServiceL2Status into what the holders tier needs (labels and the life annotation). */
export function decodeHolding(raw: unknown): Holding {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new KubeDecodeError('ServiceL2Status: expected an API object');
  const md = (raw as KubernetesObject).metadata ?? {};
  const labels = md.labels ?? {};
  const node = labels[NODE_LABEL] ?? '';
  const service = `${labels[SERVICE_NAMESPACE_LABEL] ?? ''}/${labels[SERVICE_NAME_LABEL] ?? ''}`;
  const text = md.annotations?.[LIFE_ANNOTATION];
  const life = text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : undefined;
  const from = md.annotations?.[TAKEOVER_ANNOTATION];
  const tookOverFrom = from !== undefined && isDnsSubdomain(from) ? from : undefined;
  // Only Herald's own objects (its name for that node and Service) count: a copy under another name holds nothing.
  const ours = node !== '' && md.name === statusObjectName('layer2', node, service);
  return { metadata: { name: md.name, namespace: md.namespace, resourceVersion: md.resourceVersion }, node, service, life: ours ? life : undefined, tookOverFrom };
}

/**
 * The one node holding a Service (the usual case: one object per announced Service), as its own Holds:
 * one object instead of a Map and a Hold per Service (~200 bytes each at 10,000s of Services).
 */
class OneHolder implements Holds, Hold {
  constructor(
    readonly node: string,
    readonly life: number,
    readonly tookOverFrom: string | undefined,
  ) {}

  get size(): number {
    return 1;
  }

  get(node: string): Hold | undefined {
    return node === this.node ? this : undefined;
  }

  *entries(): IterableIterator<[string, Hold]> {
    yield [this.node, { life: this.life, tookOverFrom: this.tookOverFrom }];
  }
}

export interface Layer2HoldersOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  /** The holders of these Services changed: decide them again. */
  onChange: (service: string) => void;
  /** The kind is not served (404: CRDs not installed) or not readable (403: RBAC without list/watch): no holders tier, said once. */
  onUnavailable: (status: 403 | 404) => void;
  onError: (err: Error) => void;
  /** The objects' source (tests); default a list + watch of the kind in `namespace`. */
  source?: InformerSource<Holding>;
}

export class Layer2Holders {
  private readonly informer: InformerSource<Holding>;
  /** Service key -> node -> what its object says (one holder: that holder alone). */
  private readonly byService = new Map<string, OneHolder | Map<string, Hold>>();
  private unavailable = false;
  /** Resolves when the kind turns out not to be served or readable. */
  private readonly gone: Promise<void>;
  private notServed!: () => void;

  constructor(private readonly opts: Layer2HoldersOptions) {
    this.gone = new Promise<void>((resolve) => (this.notServed = resolve));
    this.informer = opts.source ?? new Informer<Holding>({
      kubeConfig: opts.kubeConfig,
      path: `/apis/metallb.io/v1beta1/namespaces/${encodeURIComponent(opts.namespace)}/servicel2statuses`,
      decode: decodeHolding,
      name: 'servicel2statuses',
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

  private put(old: Holding | undefined, h: Holding): void {
    if (old && (old.service !== h.service || old.node !== h.node)) this.drop(old);
    const cur = this.byService.get(h.service);
    const prev = cur?.get(h.node);
    if (h.life === undefined) {
      if (prev !== undefined) this.drop(h);
      return;
    }
    if (prev !== undefined && prev.life === h.life && prev.tookOverFrom === h.tookOverFrom) return;
    if (cur === undefined || (cur instanceof OneHolder && cur.node === h.node)) {
      this.byService.set(h.service, new OneHolder(h.node, h.life, h.tookOverFrom));
    } else if (cur instanceof OneHolder) {
      this.byService.set(h.service, new Map<string, Hold>([[cur.node, { life: cur.life, tookOverFrom: cur.tookOverFrom }], [h.node, { life: h.life, tookOverFrom: h.tookOverFrom }]]));
    } else {
      cur.set(h.node, { life: h.life, tookOverFrom: h.tookOverFrom });
    }
    this.opts.onChange(h.service);
  }

  private drop(h: Holding): void {
    const cur = this.byService.get(h.service);
    if (cur === undefined) return;
    if (cur instanceof OneHolder) {
      if (cur.node !== h.node) return;
      this.byService.delete(h.service);
    } else {
      if (!cur.delete(h.node)) return;
      const [only] = cur;
      if (cur.size === 0) this.byService.delete(h.service);
      else if (cur.size === 1 && only) this.byService.set(h.service, new OneHolder(only[0], only[1].life, only[1].tookOverFrom));
    }
    this.opts.onChange(h.service);
  }
}
