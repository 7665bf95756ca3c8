// Whether a ConfigMap may replace the config in force: ONE rule for the controller and every
// speaker (pure; its inputs are the ConfigMap and what the Services' statuses show they hold, which
// every daemon sees through its Service informer), so they run the same config. Parsed exactly as
// `herald config check` parses a manifest, then checked with checkHeld: a config that would take
// an address away is refused (the old one stays in force everywhere), never half-applied.
import { createHash } from 'node:crypto';
import { parseConfigMapObjectWithWarnings } from '../config/parse.js';
import { renderConfig } from '../config/render.js';
import { ConfigError, type Config, type ConfigIssue } from '../config/model.js';
import { checkHeld, type AssignmentCheck, type HeldAddresses } from './config-check.js';
import { PoolSet } from './pool.js';

/** The part of a core/v1 ConfigMap the verdict reads (structural: no Kubernetes imports here). */
export interface ConfigMapObject {
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
  /** Counted in the size limit as the API server counts it (base64 text here, as in JSON). */
  binaryData?: Record<string, string>;
}

export type ConfigVerdict =
  /** The ConfigMap does not exist: keep the last config. */
  | { kind: 'missing' }
  /** Unchanged since the last verdict: nothing to do. */
  | { kind: 'unchanged' }
  | { kind: 'invalid'; issues: ConfigIssue[] }
  /** Valid, but Services would lose addresses: `breaking` lists them (only their breaking addresses). */
  | { kind: 'breaking'; config: Config; hash: string; breaking: AssignmentCheck[] }
  /** `warnings`: allowed but probably not meant, each with its path (logged, and a Warning Event from the controller). */
  | { kind: 'apply'; config: Config; hash: string; warnings: ConfigIssue[] };

/**
 * The ConfigMap as the manifest text `herald config check -f` would read (JSON is YAML), so the
 * daemons and the CLI give the same verdict and the same issue paths (`data.config`, ...).
 */
export function configMapText(cm: ConfigMapObject): string {
  return JSON.stringify(configMapDocument(cm));
}

/** The ConfigMap as a manifest document: what the verdict parses, and (as JSON) what says it changed. */
function configMapDocument(cm: ConfigMapObject): Record<string, unknown> {
  const doc: Record<string, unknown> = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cm.metadata?.name ?? '', namespace: cm.metadata?.namespace }, data: cm.data ?? {} };
  if (cm.binaryData) doc.binaryData = cm.binaryData;
  return doc;
}

/**
 * The config's identity across daemons and restarts: the first 12 hex digits of the SHA-256 of its
 * canonical rendering (every default spelled out), so formatting and comments do not change it.
 */
export function configHash(config: Config): string {
  return createHash('sha256').update(renderConfig(config)).digest('hex').slice(0, 12);
}

/**
 * The verdict on `cm`. `held`: what the Services this daemon handles hold per their statuses (the
 * verdict depends only on it and `cm`); `current`: the config in force, which only words the reasons.
 * `lastText`: the ConfigMap text of the config in force, so a resync is not evaluated again.
 */
export function evaluateConfig(cm: ConfigMapObject | undefined, held: Iterable<HeldAddresses>, lastText: string | undefined, current?: Config): ConfigVerdict {
  if (!cm) return { kind: 'missing' };
  const text = configMapText(cm);
  if (text === lastText) return { kind: 'unchanged' };
  let config: Config;
  let warnings: ConfigIssue[];
  try {
    // The object itself, not `text`: the size limit counts the data as the API server does, not our JSON.
    ({ config, warnings } = parseConfigMapObjectWithWarnings(configMapDocument(cm)));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { kind: 'invalid', issues: err.issues };
  }
  const hash = configHash(config);
  const breaking = checkHeld(held, current && new PoolSet(current), new PoolSet(config))
    .filter((c) => c.breaking)
    .map((c) => ({ ...c, ips: c.ips.filter((i) => i.breaking) }));
  if (breaking.length > 0) return { kind: 'breaking', config, hash, breaking };
  return { kind: 'apply', config, hash, warnings };
}

/** Event notes are capped at 1 KiB (in bytes): split a list over several notes, each naming its part. */
export const NOTE_LIMIT = 1000;

/** UTF-8 bytes: the API server counts the note's bytes, not its characters. */
function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** `text` cut to at most `max` bytes at a character boundary, with "..." when cut. */
function cut(text: string, max: number): string {
  if (bytes(text) <= max) return text;
  const buf = Buffer.from(text, 'utf8');
  let end = Math.max(0, max - 3);
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString('utf8')}...`;
}

function notes(header: string, lines: string[], limit = NOTE_LIMIT): string[] {
  const parts: string[][] = [[]];
  let size = 0;
  for (const raw of lines) {
    const line = cut(raw, limit - bytes(header) - 40);
    if (parts[parts.length - 1].length > 0 && size + bytes(line) + 2 > limit - bytes(header) - 20) {
      parts.push([]);
      size = 0;
    }
    parts[parts.length - 1].push(line);
    size += bytes(line) + 2;
  }
  if (parts.length === 1) return [`${header}: ${parts[0].join('; ')}`];
  return parts.map((p, i) => `${header} (part ${i + 1}/${parts.length}): ${p.join('; ')}`);
}

/** Event notes for an invalid config: every issue with its path (several notes if they do not fit one). */
export function invalidNotes(issues: ConfigIssue[]): string[] {
  const header = `config refused, invalid (${issues.length} error${issues.length === 1 ? '' : 's'}); keeping the config in force`;
  return notes(header, issues.map((i) => `${i.path || '(document)'}: ${i.message}`));
}

/** Event notes for the warnings of a loaded config: each with its path. */
export function warningNotes(warnings: ConfigIssue[]): string[] {
  const header = `config loaded with ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
  return notes(header, warnings.map((w) => `${w.path || '(document)'}: ${w.message}`));
}

/** Event notes for a breaking config: each Service, address and why. */
export function breakingNotes(breaking: AssignmentCheck[]): string[] {
  const header = `config refused, it would take addresses from ${breaking.length} Service${breaking.length === 1 ? '' : 's'}; keeping the config in force until they are freed or moved`;
  return notes(header, breaking.flatMap((c) => c.ips.map((i) => `${c.key} ${i.ip}: ${i.reason}`)));
}
