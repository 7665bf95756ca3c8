// Whether a ConfigMap may replace the config in force: parsed exactly as `herald config check`
// parses a manifest, then checked against what Services hold now (after a restart: the restored
// statuses), so a config that would take an address away is refused, never half-applied.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { parseConfig } from '../config/parse.js';
import { ConfigError, type Config, type ConfigIssue } from '../config/model.js';
import type { Allocator, AssignmentCheck } from './allocator.js';

export type ConfigVerdict =
  /** The ConfigMap does not exist: keep the last config. */
  | { kind: 'missing' }
  /** Unchanged since the last verdict: nothing to do. */
  | { kind: 'unchanged' }
  | { kind: 'invalid'; issues: ConfigIssue[] }
  /** Valid, but Services would lose addresses: `breaking` lists them (only their breaking addresses). */
  | { kind: 'breaking'; config: Config; breaking: AssignmentCheck[] }
  | { kind: 'apply'; config: Config };

/**
 * The ConfigMap as the manifest text `herald config check -f` would read (JSON is YAML), so the
 * controller and the CLI give the same verdict and the same issue paths (`data.config`, ...).
 */
export function configMapText(cm: V1ConfigMap): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cm.metadata?.name ?? '', namespace: cm.metadata?.namespace }, data: cm.data ?? {} });
}

/**
 * The verdict on `cm` given the allocator's current assignments. `lastText` is the ConfigMap text
 * of the config in force, so an unchanged ConfigMap (a resync) is not evaluated again.
 */
export function evaluateConfig(cm: V1ConfigMap | undefined, allocator: Allocator, lastText: string | undefined): ConfigVerdict {
  if (!cm) return { kind: 'missing' };
  const text = configMapText(cm);
  if (text === lastText) return { kind: 'unchanged' };
  let config: Config;
  try {
    config = parseConfig(text);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { kind: 'invalid', issues: err.issues };
  }
  const breaking = allocator
    .checkConfig(config)
    .filter((c) => c.breaking)
    .map((c) => ({ ...c, ips: c.ips.filter((i) => i.breaking) }));
  if (breaking.length > 0) return { kind: 'breaking', config, breaking };
  return { kind: 'apply', config };
}

/** Event note for an invalid config: every issue with its path. */
export function invalidNote(issues: ConfigIssue[]): string {
  const lines = issues.map((i) => `${i.path || '(document)'}: ${i.message}`);
  return `config refused, invalid (${issues.length} error${issues.length === 1 ? '' : 's'}); keeping the config in force: ${lines.join('; ')}`;
}

/** Event note for a breaking config: each Service, address and why. */
export function breakingNote(breaking: AssignmentCheck[]): string {
  const lines = breaking.flatMap((c) => c.ips.map((i) => `${c.key} ${i.ip}: ${i.reason}`));
  return `config refused, it would take addresses from ${breaking.length} Service${breaking.length === 1 ? '' : 's'}; keeping the config in force until they are freed or moved: ${lines.join('; ')}`;
}
