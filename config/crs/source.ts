// One entry point for a config file: MetalLB CR manifests (any document with apiVersion metallb.io/*)
// are compiled by config/crs/compile.ts, anything else is a ConfigMap or bare config for config/parse.ts.
import { describe, isMapping } from '../fields.js';
import { Issues } from '../issues.js';
import { ConfigError } from '../model.js';
import { parseConfigWithWarnings, type ParsedConfig } from '../parse.js';
import { checkShape } from '../shape.js';
import { loadYamlDocuments, MAX_MANIFEST_BYTES } from '../yaml.js';
import { compileCrsWithWarnings, isCrDocument } from './compile.js';

export type ConfigKind = 'crs' | 'configmap';

/** The documents of a manifest file, `kind: List` items (kubectl get -o yaml) spread out. */
export function loadManifestDocuments(text: string): unknown[] {
  const issues = new Issues();
  if (typeof text !== 'string') {
    issues.add('', `expected the config as text, got ${describe(text)}`);
    throw new ConfigError(issues.list);
  }
  const documents = loadYamlDocuments(text, '', issues, MAX_MANIFEST_BYTES);
  if (!documents || !documents.every((d) => checkShape(d, '', issues))) throw new ConfigError(issues.list);
  return documents.flatMap((d) => (isMapping(d) && d.kind === 'List' && Array.isArray(d.items) ? d.items : [d]));
}

/** Which format `text` is in: CR manifests when any document is a metallb.io object. */
export function configKind(documents: readonly unknown[]): ConfigKind {
  return documents.some(isCrDocument) ? 'crs' : 'configmap';
}

/** The config of a ConfigMap, bare config document or CR manifest file, with its warnings. */
export function parseAnyConfigWithWarnings(text: string): ParsedConfig & { kind: ConfigKind } {
  const documents = loadManifestDocuments(text);
  if (configKind(documents) === 'crs') return { ...compileCrsWithWarnings(documents), kind: 'crs' };
  return { ...parseConfigWithWarnings(text), kind: 'configmap' };
}
