// Raw API JSON -> client-node model objects (Date fields as Dates, as the generated client returns
// them), through client-node's own ObjectSerializer. It is not re-exported from the package root,
// hence the deep import (the package has no "exports" map, so the path is public in practice).
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';

/** A decoder for one generated model type, e.g. decoderFor<V1Service>('V1Service'). */
export function decoderFor<T>(modelName: string): (raw: unknown) => T {
  return (raw) => ObjectSerializer.deserialize(raw, modelName) as T;
}
