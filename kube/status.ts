// Conflict-safe writes of Service status (services/status subresource): read, compute, write with
// the read resourceVersion as precondition; on 409 Conflict re-read and recompute, so two writers
// never lose each other's update.
import type { V1Service, V1ServiceStatus } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { decodeObject } from './decode.js';
import { errorStatus, kubeRequest } from './request.js';

export class StatusConflictError extends Error {
  override readonly name = 'StatusConflictError';
}

/**
 * Sets the status of Service namespace/name to what `mutate` returns for the current object
 * (`undefined`: nothing to change). `current` (e.g. from an informer cache) saves the first read;
 * a stale one only costs a retry. Resolves with the stored Service, or undefined if it is gone.
 */
export async function updateServiceStatus(
  kc: KubeAccess,
  namespace: string,
  name: string,
  mutate: (svc: V1Service) => V1ServiceStatus | undefined,
  opts: { current?: V1Service; maxAttempts?: number; onConflict?: () => void } = {},
): Promise<V1Service | undefined> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
  let svc = opts.current;
  const attempts = opts.maxAttempts ?? 20;
  for (let i = 0; i < attempts; i++) {
    if (!svc) {
      try {
        svc = decodeObject<V1Service>(await kubeRequest(kc, 'GET', path));
      } catch (err) {
        if (errorStatus(err) === 404) return undefined;
        throw err;
      }
    }
    const status = mutate(structuredClone(svc));
    if (status === undefined) return svc;
    try {
      return decodeObject<V1Service>(await kubeRequest(kc, 'PUT', `${path}/status`, { body: { ...svc, status } }));
    } catch (err) {
      const code = errorStatus(err);
      if (code === 404) return undefined;
      if (code !== 409) throw err;
      opts.onConflict?.();
      svc = undefined; // someone else wrote first: recompute from the latest
    }
  }
  throw new StatusConflictError(`services/status ${namespace}/${name}: still conflicting after ${attempts} attempts`);
}
