// Whether a ConfigMap (or a set of metallb.io objects) may replace the config in force: ONE rule for
// the controller and every speaker (pure; its inputs are the config source's objects and what the
// Services' statuses show they hold, which every daemon sees through its Service informer), so they
// run the same config. Parsed exactly as `herald config check` parses a manifest, then checked with
// checkHeld: a config that would take an address away is refused (the old one stays in force
// everywhere), never half-applied.
import { createHash } from 'node:crypto';
import { compileCrsWithWarnings } from '../config/crs/compile.js';
import { parseConfigMapObjectWithWarnings } from '../config/parse.js';
import { renderConfig } from '../config/render.js';
import { ConfigError, type Config, type ConfigIssue } from '../config/model.js';
import { breakingHeld, type AssignmentCheck, type HeldAddresses } from './config-check.js';
import { PoolSet } from './pool.js';

/** The part of a core/v1 ConfigMap the verdict reads (structural: no Kubernetes imports here). */
export interface ConfigMapObject {
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
  /** Counted in the size limit as the API server counts it (base64 text here, as in JSON). */
  binaryData?: Record<string, string>;
}

export type ConfigVerdict =
  /**
   * The ConfigMap does not exist (or, crds source, no metallb.io object does): keep the last config.
   * `unread`: configmap source, metallb.io objects that do exist (`Kind ns/name`), which it does not read.
   */
  | { kind: 'missing'; unread?: string[] }
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

/** Where the daemons read their config from (`--config-source`). */
export type ConfigSourceKind = 'configmap' | 'crds';
export const CONFIG_SOURCE_KINDS: readonly ConfigSourceKind[] = ['configmap', 'crds'];

/** A metallb.io object, or a Secret a BGPPeer may name, as an informer holds it (structural). */
export interface SourceObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: unknown;
  type?: string;
  data?: Record<string, string>;
}

/**
 * What the daemon's config source holds. Both sources are looked at whichever is active: a config
 * in both is refused (one would be silently ignored otherwise), naming both.
 */
export type ConfigInput =
  | { source: 'configmap'; configMap: ConfigMapObject | undefined; crs: readonly SourceObject[] }
  | { source: 'crds'; crs: readonly SourceObject[]; secrets: readonly SourceObject[]; configMap: ConfigMapObject | undefined };

function refOf(o: SourceObject): string {
  const md = o.metadata ?? {};
  return `${o.kind ?? '?'} ${md.namespace ? `${md.namespace}/` : ''}${md.name ?? ''}`;
}

/** The objects as the compiler reads them, in a stable order, without server-set fields (resourceVersion, status). */
function crDocuments(input: Extract<ConfigInput, { source: 'crds' }>): Record<string, unknown>[] {
  const crs = input.crs.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, labels: o.metadata?.labels ?? {} }, spec: o.spec ?? {} }));
  const secrets = input.secrets.map((o) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace }, type: o.type, data: o.data ?? {} }));
  const key = (d: { kind?: string; metadata: { namespace?: string; name?: string } }): string => `${d.kind ?? ''}/${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`;
  return [...crs, ...secrets].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The source's text, compared to say it changed (a resync of the same objects is not evaluated again). */
export function inputText(input: ConfigInput): string | undefined {
  if (input.source === 'configmap') return input.configMap ? configMapText(input.configMap) : undefined;
  return JSON.stringify(crDocuments(input));
}

/**
 * Why a configmap-source daemon without its ConfigMap has no config although metallb.io objects exist
 * (MetalLB >= 0.13 users installing Herald with the defaults): what they are and the one switch.
 */
export function unreadNote(unread: readonly string[]): string {
  const listed = `${unread.slice(0, 5).join(', ')}${unread.length > 5 ? ` and ${unread.length - 5} more` : ''}`;
  return `metallb.io objects exist (${listed}) but are not read: --config-source configmap reads only the ConfigMap; to configure Herald with them run both daemons with --config-source crds (chart value configSource: crds)`;
}

/** Both sources hold config: refused, naming both and how to choose. */
function bothSources(input: ConfigInput, cm: ConfigMapObject): ConfigIssue {
  const where = `ConfigMap ${cm.metadata?.namespace ?? ''}/${cm.metadata?.name ?? ''}`;
  const crs = input.crs.map(refOf).sort();
  const listed = `${crs.slice(0, 5).join(', ')}${crs.length > 5 ? ` and ${crs.length - 5} more` : ''}`;
  const fix =
    input.source === 'configmap'
      ? 'delete the metallb.io objects, or convert (herald config convert) and run with --config-source crds (chart value configSource: crds) without the ConfigMap'
      : 'delete the ConfigMap (convert it first with herald config convert if it is the one you mean), or run with --config-source configmap without the metallb.io objects';
  return {
    path: '',
    message: `both the ${where} and metallb.io objects (${listed}) hold configuration; Herald reads one source (--config-source ${input.source}) and will not guess which is meant: ${fix}`,
  };
}

/**
 * The verdict on the config source's objects: evaluateConfig for the ConfigMap, or the metallb.io
 * objects compiled by config/crs/ (the same model and the same checks against held addresses).
 */
export function evaluateInput(input: ConfigInput, held: Iterable<HeldAddresses>, lastText: string | undefined, current?: Config): ConfigVerdict {
  if (input.configMap && input.crs.length > 0) return { kind: 'invalid', issues: [bothSources(input, input.configMap)] };
  if (input.source === 'configmap') {
    if (!input.configMap && input.crs.length > 0) return { kind: 'missing', unread: input.crs.map(refOf).sort() };
    return evaluateConfig(input.configMap, held, lastText, current);
  }
  if (input.crs.length === 0) return { kind: 'missing' };
  const documents = crDocuments(input);
  if (JSON.stringify(documents) === lastText) return { kind: 'unchanged' };
  let parsed: { config: Config; warnings: ConfigIssue[] };
  try {
    parsed = compileCrsWithWarnings(documents);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { kind: 'invalid', issues: err.issues };
  }
  return judge(parsed.config, parsed.warnings, held, current);
}

/** The object an issue of compiled CRs is about (its path starts with `Kind namespace/name`), if any. */
export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
}

const ISSUE_OBJECT = /^(IPAddressPool|L2Advertisement|BGPAdvertisement|BGPPeer|Community|BFDProfile) (?:([^\s/]+)\/)?(\S+)(?:\s|$)/;

export function issueObject(path: string): ObjectRef | undefined {
  const m = ISSUE_OBJECT.exec(path);
  if (!m) return undefined;
  return { kind: m[1], name: m[3], ...(m[2] ? { namespace: m[2] } : {}) };
}

/** Issues grouped by the object they name (undefined: the source as a whole), in first-seen order. */
export function issuesByObject(issues: readonly ConfigIssue[]): { about: ObjectRef | undefined; issues: ConfigIssue[] }[] {
  const groups = new Map<string, { about: ObjectRef | undefined; issues: ConfigIssue[] }>();
  for (const i of issues) {
    const about = issueObject(i.path);
    const k = about ? `${about.kind}/${about.namespace ?? ''}/${about.name}` : '';
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { about, issues: [] }));
    g.issues.push(i);
  }
  return [...groups.values()];
}

/**
 * A breaking config's Services grouped by the pool that loses their addresses (CRs: the IPAddressPool
 * to put the Event on); `pool` undefined when no pool of the config in force held the address.
 */
export function breakingByPool(breaking: readonly AssignmentCheck[]): { pool: string | undefined; breaking: AssignmentCheck[] }[] {
  const groups = new Map<string | undefined, AssignmentCheck[]>();
  for (const c of breaking) {
    for (const ip of c.ips) {
      const pool = ip.pool ?? ip.newPool;
      let list = groups.get(pool);
      if (!list) groups.set(pool, (list = []));
      const last = list[list.length - 1];
      if (last?.key === c.key) last.ips.push(ip);
      else list.push({ ...c, ips: [ip] });
    }
  }
  return [...groups].map(([pool, list]) => ({ pool, breaking: list }));
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
  return judge(config, warnings, held, current);
}

/** A valid config against what the Services hold: applied, or refused as breaking. */
function judge(config: Config, warnings: ConfigIssue[], held: Iterable<HeldAddresses>, current: Config | undefined): ConfigVerdict {
  const hash = configHash(config);
  const breaking = breakingHeld(held, current && new PoolSet(current), new PoolSet(config));
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

/** An Event a verdict calls for: `about` the object it goes on (undefined: the source as a whole). */
export interface VerdictEvent {
  about: ObjectRef | undefined;
  type: 'Normal' | 'Warning';
  reason: 'ConfigInvalid' | 'ConfigRefused' | 'ConfigLoaded' | 'ConfigWarning';
  note: string;
}

/**
 * The Events of a refusal, on the objects at fault: with CRs each issue on the object it names and a
 * breaking change on the IPAddressPool that loses the addresses; with the ConfigMap all on it.
 */
export function refusalEvents(verdict: ConfigVerdict, source: ConfigSourceKind): VerdictEvent[] {
  if (verdict.kind === 'invalid') {
    const groups = source === 'crds' ? issuesByObject(verdict.issues) : [{ about: undefined, issues: verdict.issues }];
    return groups.flatMap((g) => invalidNotes(g.issues).map((note): VerdictEvent => ({ about: g.about, type: 'Warning', reason: 'ConfigInvalid', note })));
  }
  if (verdict.kind === 'breaking') {
    const groups =
      source === 'crds'
        ? breakingByPool(verdict.breaking).map((g) => ({ about: g.pool === undefined ? undefined : { kind: 'IPAddressPool', name: g.pool }, breaking: g.breaking }))
        : [{ about: undefined, breaking: verdict.breaking }];
    return groups.flatMap((g) => breakingNotes(g.breaking).map((note): VerdictEvent => ({ about: g.about, type: 'Warning', reason: 'ConfigRefused', note })));
  }
  return [];
}

/** The Events of an applied config: ConfigLoaded on the source, each warning on the object it names. */
export function loadedEvents(verdict: ConfigVerdict, source: ConfigSourceKind): VerdictEvent[] {
  if (verdict.kind !== 'apply') return [];
  const loaded: VerdictEvent = {
    about: undefined,
    type: 'Normal',
    reason: 'ConfigLoaded',
    note: `config ${verdict.hash} loaded: ${verdict.config.pools.length} address pools, ${verdict.config.peers.length} BGP peers`,
  };
  const groups = source === 'crds' ? issuesByObject(verdict.warnings) : verdict.warnings.length > 0 ? [{ about: undefined, issues: verdict.warnings }] : [];
  return [loaded, ...groups.flatMap((g) => warningNotes(g.issues).map((note): VerdictEvent => ({ about: g.about, type: 'Warning', reason: 'ConfigWarning', note })))];
}
