// Conflict-safe writes of Service status (services/status subresource): read, compute, write with
// the read resourceVersion as precondition; on 409 Conflict re-read and recompute, so two writers
// never lose each other's update. Annotations ride in the same write (the status subresource stores
// metadata changes; only the spec is reset): one request, one watch event, instead of a status write
// and an annotation patch (issue 17: the create -> announced path under churn).
import type { V1Service, V1ServiceStatus } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { decodeObject } from './decode.js';
import { errorStatus, kubeRequest } from './request.js';
import { patchServiceAnnotations } from './service-annotations.js';

export class StatusConflictError extends Error {
  override readonly name = 'StatusConflictError';
}

/** What one status write stores: the status, and annotations set (a string) or removed (null) with it. */
export interface StatusWrite {
  status: V1ServiceStatus;
  annotations?: Record<string, string | null>;
}

/** `svc` as the write stores it (the spec is the server's to keep). */
export function withWrite(svc: V1Service, write: StatusWrite): V1Service {
  if (!write.annotations) return { ...svc, status: write.status };
  const annotations: Record<string, string> = { ...svc.metadata?.annotations };
  for (const [k, v] of Object.entries(write.annotations)) {
    if (v === null) delete annotations[k];
    else annotations[k] = v;
  }
  return { ...svc, metadata: { ...svc.metadata, annotations }, status: write.status };
}

/** The annotations of `write` that `stored` does not show (none: undefined). */
export function annotationsMissing(stored: V1Service, write: StatusWrite): Record<string, string | null> | undefined {
  const have = stored.metadata?.annotations ?? {};
  const missing = Object.entries(write.annotations ?? {}).filter(([k, v]) => (v === null ? k in have : have[k] !== v));
  return missing.length > 0 ? Object.fromEntries(missing) : undefined;
}

/**
 * Sets the status of Service namespace/name (and the annotations named) to what `mutate` returns for
 * the current object (`undefined`: nothing to change). `current` (e.g. from an informer cache) saves
 * the first read; a stale one only costs a retry. Resolves with the stored Service, or undefined if it
 * is gone. An API server that drops metadata changes on the status subresource gets the annotations
 * in a merge patch after the status (`onAnnotationsPatched` says so).
 */
export async function updateServiceStatus(
  kc: KubeAccess,
  namespace: string,
  name: string,
  mutate: (svc: V1Service) => StatusWrite | undefined,
  opts: { current?: V1Service; maxAttempts?: number; onConflict?: () => void; onAnnotationsPatched?: () => void } = {},
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
    const write = mutate(structuredClone(svc));
    if (write === undefined) return svc;
    let stored: V1Service;
    try {
      stored = decodeObject<V1Service>(await kubeRequest(kc, 'PUT', `${path}/status`, { body: withWrite(svc, write) }));
    } catch (err) {
      const code = errorStatus(err);
      if (code === 404) return undefined;
      if (code !== 409) throw err;
      opts.onConflict?.();
      svc = undefined; // someone else wrote first: recompute from the latest
      continue;
    }
    const missing = annotationsMissing(stored, write);
    if (!missing) return stored;
    opts.onAnnotationsPatched?.();
    return (await patchServiceAnnotations(kc, namespace, name, missing)) ? withWrite(stored, { status: stored.status ?? {}, annotations: missing }) : undefined;
  }
  throw new StatusConflictError(`services/status ${namespace}/${name}: still conflicting after ${attempts} attempts`);
}
