// The informers Herald's controller and speaker use, one constructor per kind.
import type { KubeConfig, V1ConfigMap, V1Lease, V1Node, V1Service } from '@kubernetes/client-node';
import { decoderFor } from './decode.js';
import { Informer, type InformerOptions } from './informer.js';

/** Options shared by all constructors here (clock, backoff, page size, watch timeout). */
export type InformerTuning = Omit<InformerOptions<V1Service>, 'kubeConfig' | 'path' | 'decode' | 'fieldSelector' | 'labelSelector' | 'name'>;

/** All Services in all namespaces (or one namespace). */
export function serviceInformer(kc: KubeConfig, opts: InformerTuning & { namespace?: string } = {}): Informer<V1Service> {
  const path = opts.namespace ? `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/services` : '/api/v1/services';
  return new Informer<V1Service>({ ...opts, kubeConfig: kc, path, decode: decoderFor<V1Service>('V1Service'), name: 'services' });
}

export function nodeInformer(kc: KubeConfig, opts: InformerTuning & { labelSelector?: string } = {}): Informer<V1Node> {
  return new Informer<V1Node>({ ...opts, kubeConfig: kc, path: '/api/v1/nodes', decode: decoderFor<V1Node>('V1Node'), name: 'nodes' });
}

/** Exactly one ConfigMap (Herald's configuration), watched by name. */
export function configMapInformer(kc: KubeConfig, namespace: string, name: string, opts: InformerTuning = {}): Informer<V1ConfigMap> {
  return new Informer<V1ConfigMap>({
    ...opts,
    kubeConfig: kc,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
    fieldSelector: `metadata.name=${name}`,
    decode: decoderFor<V1ConfigMap>('V1ConfigMap'),
    name: `configmap ${namespace}/${name}`,
  });
}

/** Leases of one namespace (coordination.k8s.io/v1), optionally filtered by label. */
export function leaseInformer(kc: KubeConfig, namespace: string, opts: InformerTuning & { labelSelector?: string; fieldSelector?: string } = {}): Informer<V1Lease> {
  return new Informer<V1Lease>({
    ...opts,
    kubeConfig: kc,
    path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
    decode: decoderFor<V1Lease>('V1Lease'),
    name: `leases in ${namespace}`,
  });
}
