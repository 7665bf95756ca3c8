// The informers Herald's controller and speaker use, one constructor per kind.
import type { V1ConfigMap, V1Lease, V1Namespace, V1Node, V1Service } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { decodeObject } from './decode.js';
import { Informer, type InformerOptions } from './informer.js';

/** Options shared by all constructors here (clock, backoff, page size, watch timeout). */
export type InformerTuning = Omit<InformerOptions<V1Service>, 'kubeConfig' | 'path' | 'decode' | 'fieldSelector' | 'labelSelector' | 'name'>;

/** All Services in all namespaces (or one namespace). */
export function serviceInformer(kc: KubeAccess, opts: InformerTuning & { namespace?: string } = {}): Informer<V1Service> {
  const path = opts.namespace ? `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/services` : '/api/v1/services';
  return new Informer<V1Service>({ ...opts, kubeConfig: kc, path, decode: decodeObject<V1Service>, name: 'services' });
}

export function nodeInformer(kc: KubeAccess, opts: InformerTuning & { labelSelector?: string } = {}): Informer<V1Node> {
  return new Informer<V1Node>({ ...opts, kubeConfig: kc, path: '/api/v1/nodes', decode: decodeObject<V1Node>, name: 'nodes' });
}

/** Namespaces (their labels choose address pools: IPAddressPool serviceAllocation.namespaceSelectors); `name`: that one only. */
export function namespaceInformer(kc: KubeAccess, opts: InformerTuning & { name?: string } = {}): Informer<V1Namespace> {
  const { name, ...tuning } = opts;
  return new Informer<V1Namespace>({
    ...tuning,
    kubeConfig: kc,
    path: '/api/v1/namespaces',
    ...(name ? { fieldSelector: `metadata.name=${name}` } : {}),
    decode: decodeObject<V1Namespace>,
    name: 'namespaces',
  });
}

/** Exactly one ConfigMap (Herald's configuration), watched by name. */
export function configMapInformer(kc: KubeAccess, namespace: string, name: string, opts: InformerTuning = {}): Informer<V1ConfigMap> {
  return new Informer<V1ConfigMap>({
    ...opts,
    kubeConfig: kc,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
    fieldSelector: `metadata.name=${name}`,
    decode: decodeObject<V1ConfigMap>,
    name: `configmap ${namespace}/${name}`,
  });
}

/** Leases of one namespace (coordination.k8s.io/v1), optionally filtered by label. */
export function leaseInformer(kc: KubeAccess, namespace: string, opts: InformerTuning & { labelSelector?: string; fieldSelector?: string } = {}): Informer<V1Lease> {
  return new Informer<V1Lease>({
    ...opts,
    kubeConfig: kc,
    path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
    decode: decodeObject<V1Lease>,
    name: `leases in ${namespace}`,
  });
}
