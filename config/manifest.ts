// Finds the config in a loaded YAML file: a ConfigMap's `data.config` (MetalLB's legacy format),
// or a bare config document.
import { describe, isMapping } from './fields.js';
import { checkConfigMapSize } from './configmap-size.js';
import { Issues, quote } from './issues.js';

export type ConfigSource =
  | { kind: 'bare'; document: unknown }
  /** The YAML text under a ConfigMap's data.config, still to be loaded. */
  | { kind: 'configmap'; text: string; name: string };

function nameOf(doc: Record<string, unknown>): string {
  const metadata = doc.metadata;
  return isMapping(metadata) && typeof metadata.name === 'string' ? metadata.name : '(unnamed)';
}

/** The config inside `documents` (nulls from empty documents are skipped), or undefined after recording why not. */
export function locateConfig(documents: readonly unknown[], issues: Issues): ConfigSource | undefined {
  const docs = documents.filter((d) => d !== null && d !== undefined);
  const configMaps = docs.filter((d): d is Record<string, unknown> => isMapping(d) && d.kind === 'ConfigMap');

  if (configMaps.length === 0) {
    if (docs.length === 0) return { kind: 'bare', document: null };
    if (docs.length > 1) {
      issues.add('', `found ${docs.length} YAML documents and no ConfigMap; expected one ConfigMap with data.config, or one bare config document`);
      return undefined;
    }
    const doc = docs[0];
    if (isMapping(doc) && (doc.kind !== undefined || doc.apiVersion !== undefined)) {
      const kind = typeof doc.kind === 'string' ? doc.kind : describe(doc.kind);
      issues.add('kind', `expected a ConfigMap (kind: ConfigMap) or a bare config document, got kind ${kind}`);
      return undefined;
    }
    return { kind: 'bare', document: doc };
  }

  const withConfig = configMaps.filter((cm) => isMapping(cm.data) && cm.data.config !== undefined);
  let chosen: Record<string, unknown>;
  if (configMaps.length === 1) chosen = configMaps[0];
  else if (withConfig.length === 1) chosen = withConfig[0];
  else {
    const names = (withConfig.length > 0 ? withConfig : configMaps).map((cm) => quote(nameOf(cm))).join(', ');
    issues.add('', `found several ConfigMaps (${names}); expected exactly one with data.config`);
    return undefined;
  }

  const data = chosen.data;
  if (!isMapping(data)) {
    issues.add('data', `ConfigMap ${quote(nameOf(chosen))} has no data mapping; MetalLB reads its configuration from data.config`);
    return undefined;
  }
  if (!checkConfigMapSize(data, chosen.binaryData, issues)) return undefined;
  const text = data.config;
  if (typeof text !== 'string') {
    const keys = Object.keys(data);
    const found = keys.length > 0 ? `; it has ${keys.slice(0, 10).map((k) => quote(k)).join(', ')}` : '';
    issues.add(
      'data.config',
      text === undefined || text === null
        ? `ConfigMap ${quote(nameOf(chosen))} has no data.config key (MetalLB reads its configuration from it)${found}`
        : `expected the config as a YAML string (config: |), got ${describe(text)}`,
    );
    return undefined;
  }
  return { kind: 'configmap', text, name: nameOf(chosen) };
}
