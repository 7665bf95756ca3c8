// The size of a ConfigMap as the API server counts it (ValidateConfigMap): the bytes of every data
// value plus every binaryData value, at most 1 MiB. Keys, metadata and any re-serialisation (JSON
// escapes, YAML indentation) do not count, so `config check` and the daemons measure the same thing.
import { isMapping } from './fields.js';
import type { Issues } from './issues.js';
import { MAX_CONFIG_BYTES } from './yaml.js';

/** Bytes of the decoded base64 text `b64` (binaryData values are base64 in manifests and JSON). */
function base64Bytes(b64: string): number {
  const clean = b64.replace(/[^A-Za-z0-9+/]/g, '');
  return Math.floor((clean.length * 3) / 4);
}

/** The stored size of a ConfigMap with these `data` and `binaryData` mappings. */
export function configMapBytes(data: unknown, binaryData?: unknown): number {
  let total = 0;
  if (isMapping(data)) for (const v of Object.values(data)) if (typeof v === 'string') total += Buffer.byteLength(v, 'utf8');
  if (isMapping(binaryData)) for (const v of Object.values(binaryData)) if (typeof v === 'string') total += base64Bytes(v);
  return total;
}

/** Records an issue at `data` when the ConfigMap could not be stored; true when it fits. */
export function checkConfigMapSize(data: unknown, binaryData: unknown, issues: Issues): boolean {
  const bytes = configMapBytes(data, binaryData);
  if (bytes <= MAX_CONFIG_BYTES) return true;
  issues.add('data', `ConfigMap data is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} (the Kubernetes ConfigMap size limit: the sum of its data and binaryData values)`);
  return false;
}
