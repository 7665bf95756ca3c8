// Parses MetalLB's legacy ConfigMap format into the typed Config. Throws only ConfigError, listing
// every issue with its path; hostile input (bombs, deep nesting, huge or binary text) is an issue too.
import { checkKeys, describe, expectMapping, isAbsent, readList } from './fields.js';
import { Issues, indexPath, keyPath } from './issues.js';
import { locateConfig } from './manifest.js';
import { type Community, type Config, ConfigError, type AddressPool, type ConfigIssue } from './model.js';
import { checkOverlaps, type LocatedRange } from './overlaps.js';
import { parseBfdProfiles } from './bfd-profiles.js';
import { parseCommunity } from './communities.js';
import { checkPeerConflicts, type LocatedPeer } from './peer-conflicts.js';
import { parsePeer } from './peers.js';
import { parsePool } from './pools.js';
import { checkShape } from './shape.js';
import { loadYamlDocuments, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from './yaml.js';

export const TOP_LEVEL_KEYS = ['peers', 'bgp-communities', 'address-pools', 'bfd-profiles'] as const;

function fail(issues: Issues): never {
  throw new ConfigError(issues.list);
}

/** A valid config and its warnings: what it allows that is probably not meant, each with its path. */
export interface ParsedConfig {
  config: Config;
  warnings: ConfigIssue[];
}

/** The config of `text` (see parseConfigWithWarnings); warnings are dropped. */
export function parseConfig(text: string): Config {
  return parseConfigWithWarnings(text).config;
}

/** The config of an already-loaded bare document (see parseConfigObjectWithWarnings); warnings are dropped. */
export function parseConfigObject(value: unknown): Config {
  return parseConfigObjectWithWarnings(value).config;
}

/**
 * Parses a ConfigMap manifest (YAML, possibly several documents: the one with `kind: ConfigMap` is used and
 * its `data.config` parsed) or a bare config document. An empty document is an empty config.
 */
export function parseConfigWithWarnings(text: string): ParsedConfig {
  const issues = new Issues();
  if (typeof text !== 'string') {
    issues.add('', `expected the config as text, got ${describe(text)}`);
    fail(issues);
  }
  const documents = loadYamlDocuments(text, '', issues, MAX_MANIFEST_BYTES);
  if (!documents) fail(issues);
  return parseDocuments(documents, Buffer.byteLength(text, 'utf8'), issues);
}

/**
 * Parses a ConfigMap object as the API returns it (the daemons' path: no re-serialisation, so its
 * size is counted exactly as the API server counts it and as `config check` counts a manifest's).
 */
export function parseConfigMapObjectWithWarnings(configMap: unknown): ParsedConfig {
  return parseDocuments([configMap], 0, new Issues());
}

function parseDocuments(documents: unknown[], textBytes: number, issues: Issues): ParsedConfig {
  // Bound the outer file before looking into it: it may itself be the bomb.
  if (!documents.every((d) => checkShape(d, '', issues))) fail(issues);
  const source = locateConfig(documents, issues);
  if (!source) fail(issues);
  if (source.kind === 'bare') {
    // A bare document is what would go under data.config, so the ConfigMap limit applies to it whole.
    if (textBytes > MAX_CONFIG_BYTES) {
      issues.add('', `document is ${textBytes} bytes; the limit is ${MAX_CONFIG_BYTES} (the Kubernetes ConfigMap size limit)`);
      fail(issues);
    }
    return parseConfigObjectWithWarnings(source.document);
  }

  const inner = loadYamlDocuments(source.text, 'data.config', issues);
  if (!inner) fail(issues);
  const docs = inner.filter((d) => d !== null && d !== undefined);
  if (docs.length > 1) {
    issues.add('data.config', `data.config holds ${docs.length} YAML documents; expected one config document`);
    fail(issues);
  }
  return parseConfigObjectWithWarnings(docs[0] ?? null);
}

function parseCommunityAliases(value: unknown, issues: Issues): Map<string, Community> {
  const aliases = new Map<string, Community>();
  if (isAbsent(value)) return aliases;
  const map = expectMapping(value, 'bgp-communities', issues, 'community aliases (alias: "a:b")');
  if (!map) return aliases;
  for (const alias of Object.keys(map)) {
    const at = keyPath('bgp-communities', alias);
    const literal = map[alias];
    if (typeof literal !== 'string') {
      issues.add(at, `expected a community literal like "64512:100" (a string), got ${describe(literal)}`);
      continue;
    }
    const parsed = parseCommunity(literal);
    if (parsed.ok) aliases.set(alias, parsed.value);
    else issues.add(at, parsed.reason);
  }
  return aliases;
}

/** Parses an already-loaded bare config document (the value under data.config, or JSON). */
export function parseConfigObjectWithWarnings(value: unknown): ParsedConfig {
  const issues = new Issues();
  const warnings = new Issues();
  if (!checkShape(value, '', issues)) fail(issues);
  if (isAbsent(value)) return { config: { peers: [], bgpCommunities: {}, pools: [], bfdProfiles: [] }, warnings: [] };
  const root = expectMapping(value, '', issues, 'a config document');
  if (!root) fail(issues);
  checkKeys(root, '', TOP_LEVEL_KEYS, issues);

  const bfdList = readList(root, 'bfd-profiles', '', issues, 'BFD profiles');
  const bfdProfiles = bfdList ? parseBfdProfiles(bfdList, issues, warnings) : [];

  const aliases = parseCommunityAliases(root['bgp-communities'], issues);

  const peers: LocatedPeer[] = [];
  readList(root, 'peers', '', issues, 'peers')?.forEach((p, i) => {
    const path = indexPath('peers', i);
    const peer = parsePeer(p, path, issues);
    if (peer) peers.push({ peer, path });
  });
  checkPeerConflicts(peers, issues);
  // A list that failed to parse names no profiles: report its own error, not one per peer.
  if (bfdList) {
    const names = new Set(bfdProfiles.map((b) => b.name));
    const listed = bfdList.length === bfdProfiles.length;
    for (const { peer, path } of peers) {
      if (peer.bfdProfile !== undefined && !names.has(peer.bfdProfile) && listed) {
        issues.add(keyPath(path, 'bfd-profile'), `BFD profile ${JSON.stringify(peer.bfdProfile)} is not defined in bfd-profiles`);
      }
    }
  }

  const pools: AddressPool[] = [];
  const located: LocatedRange[] = [];
  const namePaths = new Map<string, string>();
  readList(root, 'address-pools', '', issues, 'address pools')?.forEach((p, i) => {
    const at = indexPath('address-pools', i);
    const parsed = parsePool(p, at, issues, aliases, warnings);
    if (!parsed) return;
    if (parsed.name !== undefined && parsed.name !== '') {
      const first = namePaths.get(parsed.name);
      if (first !== undefined) {
        issues.add(keyPath(at, 'name'), `duplicate pool name ${JSON.stringify(parsed.name)} (first defined at ${first}); pool names must be unique`);
      } else namePaths.set(parsed.name, keyPath(at, 'name'));
    }
    for (const a of parsed.addressPaths) located.push({ range: a.range, path: a.path, order: located.length });
    if (parsed.pool) pools.push(parsed.pool);
  });
  checkOverlaps(located, issues);

  if (issues.count > 0) fail(issues);
  return { config: { peers: peers.map((p) => p.peer), bgpCommunities: Object.fromEntries(aliases), pools, bfdProfiles }, warnings: warnings.list };
}
