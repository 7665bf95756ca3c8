// Sets or removes annotations of a Service with one JSON merge patch (no read, no resourceVersion:
// the annotations named are ours alone, so there is no conflict to detect). A gone Service is no error.
import type { KubeAccess } from './access.js';
import { errorStatus, kubeRequest } from './request.js';

/** `annotations`: value to set, or null to remove. Resolves false when the Service is gone. */
export async function patchServiceAnnotations(kc: KubeAccess, namespace: string, name: string, annotations: Record<string, string | null>): Promise<boolean> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
  try {
    await kubeRequest(kc, 'PATCH', path, { body: { metadata: { annotations } }, contentType: 'application/merge-patch+json' });
    return true;
  } catch (err) {
    if (errorStatus(err) === 404) return false;
    throw err;
  }
}
