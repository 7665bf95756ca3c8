// One `peers[]` entry: a BGP session the speakers open, with MetalLB's defaults and checks.
import { parseIp } from './addresses.js';
import { NANOS_PER_SECOND, parseGoDuration } from './duration.js';
import { checkKeys, expectMapping, readBoolean, readInteger, readList, readString, describe } from './fields.js';
import { Issues, keyPath, quote } from './issues.js';
import type { Peer, PeerAsn } from './model.js';
import { parseNodeSelectors } from './selectors.js';

export const PEER_KEYS = [
  'my-asn',
  'peer-asn',
  'dynamic-asn',
  'peer-address',
  'interface',
  'peer-port',
  'source-address',
  'hold-time',
  'keepalive-time',
  'router-id',
  'node-selectors',
  'password',
  'ebgp-multihop',
  'bfd-profile',
  'connect-time',
  'enable-graceful-restart',
  'disable-mp',
] as const;

/** MetalLB's BGPPeer connectTime bounds (its CRD's validation), in seconds. */
export const CONNECT_TIME = { min: 1, max: 65535 };

export const DEFAULT_HOLD_TIME = 90;

/** Linux interface names: 1..15 bytes, none of whitespace, '/', ':' or '%' (the zone separator). */
function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0 || Buffer.byteLength(name) > 15) return `interface name ${quote(name)} must be 1 to 15 bytes (a Linux interface name)`;
  if (/[\s/:%]/.test(name) || name === '.' || name === '..') return `interface name ${quote(name)} has a character Linux does not allow in an interface name`;
  return undefined;
}
export const DEFAULT_PEER_PORT = 179;
/** Linux TCP_MD5SIG_MAXKEYLEN. */
export const MAX_PASSWORD_BYTES = 80;

const ASN = { min: 1, max: 4294967295 };

/** A duration field in nanoseconds, or undefined (absent, or invalid with an issue recorded). */
function readDuration(obj: Record<string, unknown>, key: string, path: string, issues: Issues): bigint | undefined {
  const value = obj[key];
  if (value === null || value === undefined) return undefined;
  const at = keyPath(path, key);
  // A bare 0 is the one unitless duration Go accepts (MetalLB's YAML library passes it on as "0").
  if (value === 0) return 0n;
  if (typeof value !== 'string') {
    const hint = typeof value === 'number' ? '; a bare number has no unit' : '';
    issues.add(at, `expected a duration string like "90s" or "3m", got ${describe(value)}${hint}`);
    return undefined;
  }
  const parsed = parseGoDuration(value);
  if (!parsed.ok) {
    issues.add(at, parsed.reason);
    return undefined;
  }
  if (parsed.value < 0n) {
    issues.add(at, `${quote(value)} is negative; durations must be 0 or positive`);
    return undefined;
  }
  return parsed.value;
}

/**
 * `peer-asn`, or Herald's extension `dynamic-asn: internal|external` (MetalLB's BGPPeer `dynamicASN`):
 * exactly one of them.
 */
function readPeerAsn(obj: Record<string, unknown>, path: string, issues: Issues): PeerAsn | undefined {
  const hasNumber = obj['peer-asn'] !== null && obj['peer-asn'] !== undefined;
  const hasDynamic = obj['dynamic-asn'] !== null && obj['dynamic-asn'] !== undefined;
  if (hasNumber && hasDynamic) {
    issues.add(keyPath(path, 'dynamic-asn'), 'dynamic-asn and peer-asn are both set: use peer-asn for a fixed ASN or dynamic-asn (internal|external) to learn it from the peer, not both');
    return undefined;
  }
  if (!hasDynamic) {
    if (!hasNumber) {
      issues.add(keyPath(path, 'peer-asn'), `missing required peer ASN, an integer from ${ASN.min} to ${ASN.max} (or dynamic-asn: internal|external)`);
      return undefined;
    }
    return readInteger(obj, 'peer-asn', path, issues, { ...ASN, what: 'peer ASN' });
  }
  const mode = readString(obj, 'dynamic-asn', path, issues, { what: 'dynamic ASN mode' });
  if (mode === undefined) return undefined;
  if (mode !== 'internal' && mode !== 'external') {
    issues.add(keyPath(path, 'dynamic-asn'), `${quote(mode)} is not a dynamic ASN mode: expected internal (the peer's AS is ours, iBGP) or external (any other AS, eBGP)`);
    return undefined;
  }
  return mode;
}

export function parsePeer(value: unknown, path: string, issues: Issues): Peer | undefined {
  const obj = expectMapping(value, path, issues, 'a peer');
  if (!obj) return undefined;
  const before = issues.count;
  checkKeys(obj, path, PEER_KEYS, issues);

  const myAsn = readInteger(obj, 'my-asn', path, issues, { ...ASN, required: true, what: 'local ASN' });
  const peerAsn = readPeerAsn(obj, path, issues);

  // Herald's `interface` (MetalLB's BGPPeer `interface`): an unnumbered peer, named by the link instead of an address.
  const ifname = readString(obj, 'interface', path, issues, { what: 'interface name' });
  if (ifname !== undefined) {
    const bad = interfaceNameProblem(ifname);
    if (bad) issues.add(keyPath(path, 'interface'), bad);
    if (obj['peer-address'] !== undefined && obj['peer-address'] !== null) {
      issues.add(keyPath(path, 'interface'), 'interface and peer-address are mutually exclusive: an unnumbered peer (interface) learns the router\'s link-local address on that interface; remove one');
    }
    for (const k of ['source-address', 'bfd-profile', 'ebgp-multihop'] as const) {
      if (obj[k] !== undefined && obj[k] !== null && obj[k] !== '' && obj[k] !== false) issues.add(keyPath(path, k), `${k} is not supported with interface (unnumbered peering runs over the link's IPv6 link-local address, one hop); remove it`);
    }
  }
  const addressText = ifname !== undefined ? undefined : readString(obj, 'peer-address', path, issues, { required: true, what: 'peer IP address' });
  const address = addressText === undefined ? undefined : parseIp(addressText);
  if (address && !address.ok) issues.add(keyPath(path, 'peer-address'), address.reason);

  const peerPort = readInteger(obj, 'peer-port', path, issues, { min: 1, max: 65535, what: 'TCP port' }) ?? DEFAULT_PEER_PORT;

  const sourceText = readString(obj, 'source-address', path, issues, { what: 'local IP address' });
  const source = sourceText === undefined ? undefined : parseIp(sourceText);
  if (source && !source.ok) issues.add(keyPath(path, 'source-address'), source.reason);
  if (source?.ok && address?.ok && source.value.family !== address.value.family) {
    issues.add(keyPath(path, 'source-address'), `source-address ${source.value.text} and peer-address ${address.value.text} are of different IP families`);
  }

  // MetalLB truncates durations to whole seconds; we do too, but refuse a non-zero hold time that would
  // truncate (or fall) below 3s instead of silently turning it into 0 ("no keepalives").
  const holdNanos = readDuration(obj, 'hold-time', path, issues);
  let holdTime = DEFAULT_HOLD_TIME;
  if (holdNanos !== undefined) {
    if (holdNanos !== 0n && holdNanos < 3n * NANOS_PER_SECOND) {
      issues.add(keyPath(path, 'hold-time'), `hold time ${quote(String(obj['hold-time']))} is invalid: must be 0 (no keepalives) or at least 3s (RFC 4271)`);
    } else {
      holdTime = Number(holdNanos / NANOS_PER_SECOND);
    }
  }

  const keepaliveNanos = readDuration(obj, 'keepalive-time', path, issues);
  let keepaliveTime = Math.floor(holdTime / 3);
  if (keepaliveNanos !== undefined) {
    const at = keyPath(path, 'keepalive-time');
    const seconds = Number(keepaliveNanos / NANOS_PER_SECOND);
    const text = quote(String(obj['keepalive-time']));
    if (keepaliveNanos !== 0n && seconds === 0) {
      issues.add(at, `keepalive time ${text} is below 1s; BGP timers are whole seconds`);
    } else if (seconds > holdTime) {
      issues.add(at, `keepalive time ${text} is longer than the hold time (${holdTime}s); it must be at most the hold time (usually a third of it)`);
    } else if (seconds === 0 && holdTime !== 0) {
      issues.add(at, `keepalive time 0 with a ${holdTime}s hold time would let the session expire; use a positive value (default: hold time / 3)`);
    } else {
      keepaliveTime = seconds;
    }
  }

  const routerIdText = readString(obj, 'router-id', path, issues, { what: 'router ID' });
  let routerId: string | undefined;
  if (routerIdText !== undefined) {
    const parsed = parseIp(routerIdText);
    if (!parsed.ok || parsed.value.family !== 'ipv4') {
      issues.add(keyPath(path, 'router-id'), `router ID ${quote(routerIdText)} is invalid: expected a dotted quad like 192.0.2.1`);
    } else if (parsed.value.value === 0n) {
      issues.add(keyPath(path, 'router-id'), 'router ID 0.0.0.0 is invalid: a BGP identifier must be non-zero (RFC 6286)');
    } else {
      routerId = parsed.value.text;
    }
  }

  const selectorList = readList(obj, 'node-selectors', path, issues, 'node selectors');
  const nodeSelectors = selectorList ? parseNodeSelectors(selectorList, keyPath(path, 'node-selectors'), issues) : [];

  const password = readString(obj, 'password', path, issues, { what: 'TCP MD5 password' });
  if (password !== undefined && Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    issues.add(keyPath(path, 'password'), `password is ${Buffer.byteLength(password, 'utf8')} bytes; TCP MD5 keys are at most ${MAX_PASSWORD_BYTES}`);
  }

  const ebgpMultihop = readBoolean(obj, 'ebgp-multihop', path, issues) ?? false;
  if (ebgpMultihop && myAsn !== undefined && myAsn === peerAsn) {
    issues.add(keyPath(path, 'ebgp-multihop'), `ebgp-multihop is set on an iBGP peer (my-asn = peer-asn = ${myAsn}); it only applies to eBGP`);
  }
  if (ebgpMultihop && peerAsn === 'internal') {
    issues.add(keyPath(path, 'ebgp-multihop'), 'ebgp-multihop is set on an iBGP peer (dynamic-asn: internal); it only applies to eBGP');
  }

  // MetalLB's BGPPeer connectTime (FRR's "timers connect"): whole seconds from 1 to 65535.
  const connectNanos = readDuration(obj, 'connect-time', path, issues);
  let connectTime: number | undefined;
  if (connectNanos !== undefined) {
    const text = quote(String(obj['connect-time']));
    if (connectNanos % NANOS_PER_SECOND !== 0n) issues.add(keyPath(path, 'connect-time'), `connect time ${text} is not a whole number of seconds`);
    else if (connectNanos < BigInt(CONNECT_TIME.min) * NANOS_PER_SECOND || connectNanos > BigInt(CONNECT_TIME.max) * NANOS_PER_SECOND) {
      issues.add(keyPath(path, 'connect-time'), `connect time ${text} is out of range: from ${CONNECT_TIME.min}s to ${CONNECT_TIME.max}s`);
    } else connectTime = Number(connectNanos / NANOS_PER_SECOND);
  }
  const enableGracefulRestart = readBoolean(obj, 'enable-graceful-restart', path, issues) ?? false;
  const disableMp = readBoolean(obj, 'disable-mp', path, issues) ?? false;

  // Whether the profile exists is checked by the caller, which has the bfd-profiles list.
  const bfdProfile = readString(obj, 'bfd-profile', path, issues, { what: 'BFD profile name' });

  if (issues.count > before || myAsn === undefined || peerAsn === undefined || (ifname === undefined && !address?.ok)) return undefined;
  const peer: Peer = {
    myAsn,
    peerAsn,
    peerAddress: ifname !== undefined ? `%${ifname}` : address?.ok ? address.value.text : '',
    peerPort,
    holdTime,
    keepaliveTime,
    nodeSelectors,
    ebgpMultihop,
  };
  if (ifname !== undefined) peer.interface = ifname;
  if (source?.ok) peer.sourceAddress = source.value.text;
  if (routerId !== undefined) peer.routerId = routerId;
  if (bfdProfile) peer.bfdProfile = bfdProfile; // "" means no BFD, as in MetalLB
  if (password) peer.password = password; // "" means no password, as in MetalLB
  if (connectTime !== undefined) peer.connectTime = connectTime;
  if (enableGracefulRestart) peer.enableGracefulRestart = true;
  if (disableMp) peer.disableMp = true;
  return peer;
}
