// Raw API JSON -> the objects informers cache: plain JSON (timestamps stay RFC 3339 strings, no
// model classes), minus what no daemon reads but costs most of a cache with 10,000s of objects:
// metadata.managedFields (server-side apply bookkeeping, often larger than the object itself).

/** An object from the API server that is not a JSON object. */
export class KubeDecodeError extends Error {
  override readonly name = 'KubeDecodeError';
}

/** Strips in place what the daemons never read; returns `raw` typed as T. */
export function decodeObject<T>(raw: unknown): T {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KubeDecodeError(`expected an API object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const md = (raw as { metadata?: unknown }).metadata;
  if (typeof md === 'object' && md !== null) delete (md as { managedFields?: unknown }).managedFields;
  return raw as T;
}
