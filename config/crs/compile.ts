// Compiles MetalLB's configuration objects (metallb.io IPAddressPool, L2Advertisement, BGPAdvertisement,
// BGPPeer, Community, BFDProfile, and the basic-auth Secrets BGPPeers name) into the same validated
// Config the ConfigMap parser produces, with the same rules (each spec goes through the ConfigMap
// parser's readers). Pure: no Kubernetes calls. Throws only ConfigError; every issue's path starts with
// the object (`BGPPeer metallb-system/r1 spec.holdTime`). What Herald cannot honour is refused, never ignored.
import { checkKeys, describe, expectMapping, isAbsent, isMapping, readList, type Mapping } from '../fields.js';
import { Issues, indexPath, keyPath, quote } from '../issues.js';
import { type AddressPool, type BfdProfile, type Community, type Config, ConfigError, type ConfigIssue, type L2Advertisement, type NodeSelector } from '../model.js';
import { checkOverlaps, type LocatedRange } from '../overlaps.js';
import { parseBfdProfile } from '../bfd-profiles.js';
import { parseCommunity } from '../communities.js';
import { checkPeerConflicts, type LocatedPeer } from '../peer-conflicts.js';
import { parsePeer } from '../peers.js';
import { parsePool } from '../pools.js';
import { matchesNode, parseNodeSelectors } from '../selectors.js';
import { crMessage, crPath, toLegacyKeys } from './names.js';

export const CR_GROUP = 'metallb.io';

/** The versions of each kind a manifest may use (MetalLB's served versions). */
export const CR_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  IPAddressPool: ['v1beta1'],
  L2Advertisement: ['v1beta1'],
  BGPAdvertisement: ['v1beta1'],
  Community: ['v1beta1'],
  BFDProfile: ['v1beta1'],
  BGPPeer: ['v1beta2', 'v1beta1'],
};

const SPEC_KEYS: Readonly<Record<string, readonly string[]>> = {
  IPAddressPool: ['addresses', 'autoAssign', 'avoidBuggyIPs', 'serviceAllocation'],
  L2Advertisement: ['ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'interfaces'],
  BGPAdvertisement: ['aggregationLength', 'aggregationLengthV6', 'localPref', 'communities', 'ipAddressPools', 'ipAddressPoolSelectors', 'nodeSelectors', 'peers'],
  Community: ['communities'],
  BFDProfile: ['receiveInterval', 'transmitInterval', 'detectMultiplier', 'echoInterval', 'echoMode', 'passiveMode', 'minimumTtl'],
  BGPPeer: [
    'myASN', 'peerASN', 'dynamicASN', 'peerAddress', 'sourceAddress', 'peerPort', 'holdTime', 'keepaliveTime', 'connectTime',
    'routerID', 'nodeSelectors', 'password', 'passwordSecret', 'bfdProfile', 'enableGracefulRestart', 'ebgpMultiHop', 'vrf', 'disableMP', 'interface',
  ],
};

/** MetalLB's BGPPeer peerPort maximum (its CRD's), kept so a CR valid here is valid for MetalLB too. */
export const MAX_CR_PEER_PORT = 16384;

/** One object of the input, checked for kind and name. */
export interface CrObject {
  kind: string;
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  spec: Mapping;
  /** `BGPPeer metallb-system/r1`: the prefix of every issue about it. */
  ref: string;
  raw: Mapping;
}

/** Whether a loaded document is a metallb.io object (so a file holding one is a CR manifest). */
export function isCrDocument(doc: unknown): boolean {
  return isMapping(doc) && typeof doc.apiVersion === 'string' && doc.apiVersion.startsWith(`${CR_GROUP}/`);
}

function refOf(kind: string, name: string, namespace?: string): string {
  return `${kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

/** Moves issues found on a translated spec (paths like `spec.hold-time`) to the object, CR names restored. */
function relocate(from: readonly ConfigIssue[], to: Issues, at: (path: string) => string): void {
  for (const i of from) to.add(at(crPath(i.path)), crMessage(i.message));
}

function within(ref: string, path: string): string {
  return `${ref} ${path}`;
}

interface Sorted {
  objects: Map<string, CrObject[]>;
  secrets: Map<string, Mapping>;
}

function sortObjects(docs: readonly unknown[], issues: Issues): Sorted {
  const objects = new Map<string, CrObject[]>(Object.keys(CR_VERSIONS).map((k) => [k, []]));
  const secrets = new Map<string, Mapping>();
  const seen = new Set<string>();
  docs.forEach((doc, i) => {
    const at = indexPath('documents', i);
    if (isAbsent(doc)) return;
    if (!isMapping(doc)) {
      issues.add(at, `expected a Kubernetes object (a mapping), got ${describe(doc)}`);
      return;
    }
    const metadata = isMapping(doc.metadata) ? doc.metadata : {};
    const name = typeof metadata.name === 'string' ? metadata.name : '';
    const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined;
    if (doc.apiVersion === 'v1' && doc.kind === 'Secret') {
      secrets.set(`${namespace ?? ''}/${name}`, doc);
      return;
    }
    const kind = typeof doc.kind === 'string' ? doc.kind : '';
    const versions = CR_VERSIONS[kind];
    if (!isCrDocument(doc) || versions === undefined) {
      issues.add(
        at,
        `${quote(`${String(doc.apiVersion)} ${kind || describe(doc.kind)}`)} is not a MetalLB configuration object; expected metallb.io ` +
          `${Object.keys(CR_VERSIONS).join(', ')} (or a v1 Secret a BGPPeer names)`,
      );
      return;
    }
    const ref = refOf(kind, name || '(unnamed)', namespace);
    const version = (doc.apiVersion as string).slice(CR_GROUP.length + 1);
    if (!versions.includes(version)) {
      issues.add(within(ref, 'apiVersion'), `${quote(doc.apiVersion as string)} is not a served version of ${kind}; use ${versions.map((v) => `${CR_GROUP}/${v}`).join(' or ')}`);
      return;
    }
    if (name === '') {
      issues.add(within(ref, 'metadata.name'), 'missing object name');
      return;
    }
    if (seen.has(ref)) {
      issues.add(within(ref, 'metadata.name'), `${ref} is defined twice; names are unique per kind and namespace`);
      return;
    }
    seen.add(ref);
    const labels: Record<string, string> = {};
    if (isMapping(metadata.labels)) for (const [k, v] of Object.entries(metadata.labels)) if (typeof v === 'string') labels[k] = v;
    let spec: Mapping = {};
    if (!isAbsent(doc.spec)) {
      const m = expectMapping(doc.spec, within(ref, 'spec'), issues, `a ${kind} spec`);
      if (!m) return;
      spec = m;
    }
    checkKeys(spec, within(ref, 'spec'), SPEC_KEYS[kind], issues);
    objects.get(kind)?.push({ kind, name, namespace, labels, spec, ref, raw: doc });
  });
  return { objects, secrets };
}

/** A set field that Herald does not implement yet: refused with why, never silently ignored. */
function refuseSet(o: CrObject, key: string, why: string, issues: Issues): void {
  const v = o.spec[key];
  if (isAbsent(v) || v === false || v === '' || (Array.isArray(v) && v.length === 0)) return;
  issues.add(within(o.ref, keyPath('spec', key)), why);
}

function compileCommunities(list: readonly CrObject[], issues: Issues): Map<string, Community> {
  const aliases = new Map<string, Community>();
  const where = new Map<string, string>();
  for (const o of list) {
    readList(o.spec, 'communities', within(o.ref, 'spec'), issues, 'communities')?.forEach((c, i) => {
      const at = within(o.ref, indexPath('spec.communities', i));
      if (!isMapping(c)) return issues.add(at, `expected {name, value}, got ${describe(c)}`);
      checkKeys(c, at, ['name', 'value'], issues);
      const { name, value } = c;
      if (typeof name !== 'string' || name === '') return issues.add(keyPath(at, 'name'), 'expected a community name (a non-empty string)');
      if (typeof value !== 'string') return issues.add(keyPath(at, 'value'), `expected a community like "64512:100" or "large:64512:1:2" (a string), got ${describe(value)}`);
      const first = where.get(name);
      if (first !== undefined) return issues.add(keyPath(at, 'name'), `community ${quote(name)} is already defined at ${first}`);
      where.set(name, keyPath(at, 'name'));
      const parsed = parseCommunity(value);
      if (parsed.ok) aliases.set(name, parsed.value);
      else issues.add(keyPath(at, 'value'), parsed.reason);
    });
  }
  return aliases;
}

/** BFDProfile objects: the ConfigMap's bfd-profiles entries (the object's name is the profile's). */
function compileBfdProfiles(list: readonly CrObject[], issues: Issues, warnings: Issues): BfdProfile[] {
  const profiles: BfdProfile[] = [];
  for (const o of list) {
    const local = new Issues();
    const localWarnings = new Issues();
    const profile = parseBfdProfile({ ...(toLegacyKeys(o.spec) as Mapping), name: o.name }, 'spec', local, localWarnings);
    relocate(local.list, issues, (p) => within(o.ref, p === 'spec.name' ? 'metadata.name' : p));
    relocate(localWarnings.list, warnings, (p) => within(o.ref, p));
    if (profile) profiles.push(profile);
  }
  return profiles;
}

function secretPassword(o: CrObject, secrets: ReadonlyMap<string, Mapping>, issues: Issues): string | undefined {
  const ref = o.spec.passwordSecret;
  const at = within(o.ref, 'spec.passwordSecret');
  if (!isMapping(ref)) {
    issues.add(at, `expected {name, namespace}, got ${describe(ref)}`);
    return undefined;
  }
  checkKeys(ref, at, ['name', 'namespace'], issues);
  if (typeof ref.name !== 'string' || ref.name === '') {
    issues.add(keyPath(at, 'name'), 'missing the Secret name');
    return undefined;
  }
  const namespace = typeof ref.namespace === 'string' && ref.namespace !== '' ? ref.namespace : (o.namespace ?? '');
  const secret = secrets.get(`${namespace}/${ref.name}`);
  const what = `Secret ${namespace ? `${namespace}/` : ''}${ref.name}`;
  if (!secret) {
    issues.add(at, `${what} was not found (it must be in the BGPPeer's namespace and of type kubernetes.io/basic-auth)`);
    return undefined;
  }
  if (secret.type !== 'kubernetes.io/basic-auth') {
    issues.add(at, `${what} is of type ${quote(String(secret.type ?? 'Opaque'))}; a BGP password Secret must be of type kubernetes.io/basic-auth`);
    return undefined;
  }
  const data = isMapping(secret.data) ? secret.data : {};
  const stringData = isMapping(secret.stringData) ? secret.stringData : {};
  if (typeof stringData.password === 'string') return stringData.password;
  if (typeof data.password === 'string') return Buffer.from(data.password, 'base64').toString('utf8');
  issues.add(at, `${what} has no password key`);
  return undefined;
}

function compilePeers(list: readonly CrObject[], secrets: ReadonlyMap<string, Mapping>, bfdProfiles: ReadonlySet<string>, issues: Issues): (LocatedPeer & { name: string })[] {
  const located: (LocatedPeer & { name: string })[] = [];
  for (const o of list) {
    const before = issues.count;
    refuseSet(o, 'vrf', 'BGP sessions in a VRF are not supported by Herald (a session bound to a VRF device needs VRF support in the node kernel: see the README, BGP and VRFs); remove vrf to peer from the default routing table', issues);
    const profile = o.spec.bfdProfile;
    if (typeof profile === 'string' && profile !== '' && !bfdProfiles.has(profile)) {
      issues.add(within(o.ref, 'spec.bfdProfile'), `no BFDProfile is named ${quote(profile)} in ${o.namespace ?? 'the namespace'}; create it or remove bfdProfile`);
    }
    const port = o.spec.peerPort;
    if (typeof port === 'number' && port > MAX_CR_PEER_PORT) {
      issues.add(within(o.ref, 'spec.peerPort'), `${port} is out of range: MetalLB's BGPPeer takes a port from 0 to ${MAX_CR_PEER_PORT}`);
    }
    const legacy = toLegacyKeys(o.spec) as Mapping;
    for (const k of ['vrf', 'passwordSecret']) delete legacy[k];
    if (!isAbsent(o.spec.passwordSecret)) {
      if (!isAbsent(o.spec.password) && o.spec.password !== '') {
        issues.add(within(o.ref, 'spec.passwordSecret'), 'password and passwordSecret are both set; use one');
      } else {
        const password = secretPassword(o, secrets, issues);
        if (password !== undefined) legacy.password = password;
      }
    }
    const local = new Issues();
    const peer = parsePeer(legacy, 'spec', local);
    relocate(local.list, issues, (p) => within(o.ref, p));
    if (peer && issues.count === before) located.push({ peer, path: within(o.ref, 'spec'), name: o.name });
  }
  return located;
}

/** An advertisement's pool choice and the pools it names, checked once; and where it announces. */
interface Advertisement {
  object: CrObject;
  names: string[];
  selectors: NodeSelector[];
  /** spec.nodeSelectors: which nodes announce (empty: every node). */
  nodes: NodeSelector[];
  /** L2Advertisement spec.interfaces (empty: every interface). */
  interfaces: string[];
  /** BGPAdvertisement spec.peers: BGPPeer names (empty: every peer). */
  peers: string[];
}

/** A Linux interface name: 1-15 bytes (IFNAMSIZ), no '/', ':' or whitespace, not '.' or '..'. */
const INTERFACE_NAME = /^[^\s/:]{1,15}$/;

function readNames(o: CrObject, key: string, what: string, issues: Issues, check: (n: string) => string | undefined): string[] {
  const out: string[] = [];
  readList(o.spec, key, within(o.ref, 'spec'), issues, `${what}s`)?.forEach((n, i) => {
    const at = within(o.ref, indexPath(`spec.${key}`, i));
    if (typeof n !== 'string' || n === '') return issues.add(at, `expected ${what} (a non-empty string), got ${describe(n)}`);
    const problem = check(n);
    if (problem !== undefined) return issues.add(at, problem);
    if (!out.includes(n)) out.push(n);
  });
  return out;
}

function compileAdvertisement(o: CrObject, poolNames: ReadonlySet<string>, peerNames: ReadonlySet<string>, issues: Issues, warnings: Issues): Advertisement {
  const names: string[] = [];
  readList(o.spec, 'ipAddressPools', within(o.ref, 'spec'), issues, 'pool names')?.forEach((n, i) => {
    const at = within(o.ref, indexPath('spec.ipAddressPools', i));
    if (typeof n !== 'string') return issues.add(at, `expected a pool name (a string), got ${describe(n)}`);
    if (!poolNames.has(n)) warnings.add(at, `no IPAddressPool is named ${quote(n)}; this entry selects nothing`);
    names.push(n);
  });
  const local = new Issues();
  const list = readList(o.spec, 'ipAddressPoolSelectors', 'spec', local, 'label selectors');
  const selectors = list ? parseNodeSelectors(toLegacyKeys(list) as unknown[], 'spec.ipAddressPoolSelectors', local) : [];
  const nodeList = readList(o.spec, 'nodeSelectors', 'spec', local, 'node selectors');
  const nodes = nodeList ? parseNodeSelectors(toLegacyKeys(nodeList) as unknown[], 'spec.nodeSelectors', local) : [];
  relocate(local.list, issues, (p) => within(o.ref, p));
  let interfaces: string[] = [];
  let peers: string[] = [];
  if (o.kind === 'L2Advertisement') {
    interfaces = readNames(o, 'interfaces', 'an interface name', issues, (n) =>
      INTERFACE_NAME.test(n) && n !== '.' && n !== '..' ? undefined : `${quote(n)} is not a network interface name (1-15 characters, no '/', ':' or whitespace)`,
    );
  } else {
    peers = readNames(o, 'peers', 'a BGPPeer name', issues, () => undefined);
    peers.forEach((n, i) => {
      if (!peerNames.has(n)) warnings.add(within(o.ref, indexPath('spec.peers', i)), `no BGPPeer is named ${quote(n)}; nothing is advertised to it`);
    });
  }
  return { object: o, names, selectors, nodes, interfaces, peers };
}

function selects(a: Advertisement, pool: CrObject): boolean {
  if (a.names.length === 0 && a.selectors.length === 0) return true;
  return a.names.includes(pool.name) || (a.selectors.length > 0 && matchesNode(a.selectors, pool.labels));
}

/** The pool's layer2 scope: undefined when one advertisement announces everywhere (the union is then everything). */
function l2Scope(byL2: readonly Advertisement[]): L2Advertisement[] | undefined {
  if (byL2.some((a) => a.nodes.length === 0 && a.interfaces.length === 0)) return undefined;
  const out: L2Advertisement[] = [];
  const seen = new Set<string>();
  for (const a of byL2) {
    const scope: L2Advertisement = { nodeSelectors: a.nodes, interfaces: a.interfaces };
    const key = JSON.stringify(scope);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(scope);
  }
  return out;
}

function bgpAdvertisementDocument(spec: Mapping): Mapping {
  const doc: Mapping = {};
  for (const k of ['aggregationLength', 'aggregationLengthV6', 'localPref', 'communities']) if (!isAbsent(spec[k])) doc[k] = spec[k];
  return toLegacyKeys(doc) as Mapping;
}

function compilePools(
  sorted: Sorted,
  aliases: ReadonlyMap<string, Community>,
  issues: Issues,
  warnings: Issues,
): { pools: AddressPool[]; peerNames: Set<string> } {
  const poolObjects = sorted.objects.get('IPAddressPool') ?? [];
  const poolNames = new Set(poolObjects.map((p) => p.name));
  const peerNames = new Set((sorted.objects.get('BGPPeer') ?? []).map((p) => p.name));
  const l2 = (sorted.objects.get('L2Advertisement') ?? []).map((o) => compileAdvertisement(o, poolNames, peerNames, issues, warnings));
  const bgp = (sorted.objects.get('BGPAdvertisement') ?? []).map((o) => compileAdvertisement(o, poolNames, peerNames, issues, warnings));
  /** The BGPPeer names some advertisement's peers lists: those peers keep their name in the model. */
  const named = new Set(bgp.flatMap((a) => a.peers));
  const pools: AddressPool[] = [];
  const located: LocatedRange[] = [];
  const firstByName = new Map<string, string>();
  for (const o of poolObjects) {
    const first = firstByName.get(o.name);
    if (first !== undefined) issues.add(within(o.ref, 'metadata.name'), `another IPAddressPool is named ${quote(o.name)} (${first}); pool names must be unique`);
    firstByName.set(o.name, o.ref);
    const byL2 = l2.filter((a) => selects(a, o));
    const byBgp = bgp.filter((a) => selects(a, o));
    if (byL2.length > 0 && byBgp.length > 0) {
      issues.add(
        within(o.ref, 'metadata.name'),
        `the pool is announced both by layer2 (${byL2[0].object.ref}) and BGP (${byBgp[0].object.ref}); Herald announces a pool by one protocol: select it from one kind of advertisement`,
      );
      continue;
    }
    const unannounced = byL2.length === 0 && byBgp.length === 0;
    if (unannounced) {
      // MetalLB's rule: the pool hands out addresses, nobody announces them. Said here (a ConfigWarning
      // Event on the pool) and by the controller on each Service it gives such an address.
      warnings.add(within(o.ref, 'metadata.name'), 'no L2Advertisement or BGPAdvertisement selects this pool: its addresses are handed out but not announced (MetalLB\'s rule); add an advertisement to announce them');
    }
    // Advertisements equal as written give the same routes: one of them (not a duplicate to refuse).
    // The parser reads each distinct document once; advertisements equal but for their scope keep theirs.
    const advDocs: Mapping[] = [];
    const advRefs: string[] = [];
    const advScopes: { doc: number; nodes: NodeSelector[]; peers: string[] }[] = [];
    for (const a of byBgp) {
      const text = JSON.stringify(bgpAdvertisementDocument(a.object.spec));
      let doc = advDocs.findIndex((d) => JSON.stringify(d) === text);
      if (doc < 0) {
        doc = advDocs.push(bgpAdvertisementDocument(a.object.spec)) - 1;
        advRefs.push(a.object.ref);
      }
      const scope = { doc, nodes: a.nodes, peers: a.peers };
      if (!advScopes.some((b) => JSON.stringify(b) === JSON.stringify(scope))) advScopes.push(scope);
    }
    const legacy: Mapping = {
      name: o.name,
      protocol: byBgp.length > 0 ? 'bgp' : 'layer2',
      addresses: o.spec.addresses,
      'avoid-buggy-ips': o.spec.avoidBuggyIPs,
      'auto-assign': o.spec.autoAssign,
      ...(isAbsent(o.spec.serviceAllocation) ? {} : { 'service-allocation': toLegacyKeys(o.spec.serviceAllocation) }),
      ...(advDocs.length > 0 ? { 'bgp-advertisements': advDocs } : {}),
    };
    const local = new Issues();
    const localWarnings = new Issues();
    const parsed = parsePool(legacy, 'spec', local, aliases, localWarnings);
    const place = (p: string): string => {
      const adv = /^spec\.bgp-advertisements\[(\d+)\](.*)$/.exec(p);
      if (adv) return within(advRefs[Number(adv[1])], crPath(`spec${adv[2]}`));
      return within(o.ref, crPath(p === 'spec.name' ? 'metadata.name' : p));
    };
    for (const i of local.list) issues.add(place(i.path), crMessage(i.message));
    for (const i of localWarnings.list) warnings.add(place(i.path), crMessage(i.message));
    for (const a of parsed?.addressPaths ?? []) located.push({ range: a.range, path: place(a.path), order: located.length });
    const pool = parsed?.pool;
    if (!pool) continue;
    if (pool.protocol === 'bgp') {
      pool.bgpAdvertisements = advScopes.map((scope) => {
        const ad = { ...pool.bgpAdvertisements[scope.doc] };
        if (scope.nodes.length > 0) ad.nodeSelectors = scope.nodes;
        if (scope.peers.length > 0) ad.peers = scope.peers;
        return ad;
      });
    }
    if (unannounced) pool.l2Advertisements = [];
    else if (pool.protocol === 'layer2') {
      const scope = l2Scope(byL2);
      if (scope !== undefined) pool.l2Advertisements = scope;
    }
    pools.push(pool);
  }
  checkOverlaps(located, issues);
  return { pools, peerNames: named };
}

/** The Config that these objects say, and its warnings; throws ConfigError naming every problem. */
export function compileCrsWithWarnings(documents: readonly unknown[]): { config: Config; warnings: ConfigIssue[] } {
  const issues = new Issues();
  const warnings = new Issues();
  const sorted = sortObjects(documents, issues);
  const bfdProfiles = compileBfdProfiles(sorted.objects.get('BFDProfile') ?? [], issues, warnings);
  const aliases = compileCommunities(sorted.objects.get('Community') ?? [], issues);
  const peers = compilePeers(sorted.objects.get('BGPPeer') ?? [], sorted.secrets, new Set((sorted.objects.get('BFDProfile') ?? []).map((o) => o.name)), issues);
  checkPeerConflicts(peers, issues);
  const { pools, peerNames } = compilePools(sorted, aliases, issues, warnings);
  if (issues.count > 0) throw new ConfigError(dedupe(issues.list));
  const peerList = peers.map((p) => (peerNames.has(p.name) ? { ...p.peer, name: p.name } : p.peer));
  return { config: { peers: peerList, bgpCommunities: Object.fromEntries(aliases), pools, bfdProfiles }, warnings: dedupe(warnings.list) };
}

export function compileCrs(documents: readonly unknown[]): Config {
  return compileCrsWithWarnings(documents).config;
}

/** One BGPAdvertisement shared by several pools reports its own problem once. */
function dedupe(list: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return list.filter((i) => {
    const k = `${i.path}\n${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
