// An informer's cache rebuilt from its events alone (the informer-paging tests, unit and cluster): an
// add of a key held, or an update or delete of one not held (or held at another resourceVersion), is
// a fault; adds before sync are counted per key (the list's snapshot: each object once).
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Informer } from '../../../kube/informer.js';

export interface InformerMirror {
  /** name -> resourceVersion, as the events built it. */
  mirror: Map<string, string>;
  faults: string[];
  /** Adds per name before the informer synced. */
  addsAtSync: Map<string, number>;
}

export function mirrorEvents(inf: Informer<V1ConfigMap>): InformerMirror {
  const m: InformerMirror = { mirror: new Map(), faults: [], addsAtSync: new Map() };
  inf
    .on('add', (o) => {
      const k = o.metadata?.name ?? '';
      if (m.mirror.has(k)) m.faults.push(`add of held ${k}`);
      m.mirror.set(k, o.metadata?.resourceVersion ?? '');
      if (!inf.hasSynced()) m.addsAtSync.set(k, (m.addsAtSync.get(k) ?? 0) + 1);
    })
    .on('update', (o, old) => {
      const k = o.metadata?.name ?? '';
      if (!m.mirror.has(k) || m.mirror.get(k) !== old?.metadata?.resourceVersion) m.faults.push(`update of ${k} not held as ${old?.metadata?.resourceVersion}`);
      m.mirror.set(k, o.metadata?.resourceVersion ?? '');
    })
    .on('delete', (o) => {
      const k = o.metadata?.name ?? '';
      if (!m.mirror.delete(k)) m.faults.push(`delete of ${k} not held`);
    });
  return m;
}
