// MetalLB's CRD field names and their legacy ConfigMap spellings. The CR compiler reuses the ConfigMap
// parser's rules by translating a spec to the legacy keys; issues found there are renamed back here,
// so every message names the field as the user wrote it in the CR.

/** Legacy key -> CR field name (longest first so `aggregation-length-v6` is not cut at `aggregation-length`). */
const RENAMES: readonly [string, string][] = [
  ['aggregation-length-v6', 'aggregationLengthV6'],
  ['enable-graceful-restart', 'enableGracefulRestart'],
  ['aggregation-length', 'aggregationLength'],
  ['namespace-selectors', 'namespaceSelectors'],
  ['service-allocation', 'serviceAllocation'],
  ['service-selectors', 'serviceSelectors'],
  ['detect-multiplier', 'detectMultiplier'],
  ['transmit-interval', 'transmitInterval'],
  ['receive-interval', 'receiveInterval'],
  ['echo-interval', 'echoInterval'],
  ['passive-mode', 'passiveMode'],
  ['minimum-ttl', 'minimumTtl'],
  ['echo-mode', 'echoMode'],
  ['match-expressions', 'matchExpressions'],
  ['avoid-buggy-ips', 'avoidBuggyIPs'],
  ['keepalive-time', 'keepaliveTime'],
  ['source-address', 'sourceAddress'],
  ['node-selectors', 'nodeSelectors'],
  ['ebgp-multihop', 'ebgpMultiHop'],
  ['peer-address', 'peerAddress'],
  ['match-labels', 'matchLabels'],
  ['dynamic-asn', 'dynamicASN'],
  ['auto-assign', 'autoAssign'],
  ['bfd-profile', 'bfdProfile'],
  ['connect-time', 'connectTime'],
  ['disable-mp', 'disableMP'],
  ['peer-port', 'peerPort'],
  ['hold-time', 'holdTime'],
  ['router-id', 'routerID'],
  ['localpref', 'localPref'],
  ['peer-asn', 'peerASN'],
  ['my-asn', 'myASN'],
];
const TO_CR = new Map(RENAMES);
const TO_LEGACY = new Map(RENAMES.map(([a, b]) => [b, a]));

const WORD = new RegExp(`(?<![\\w-])(${RENAMES.map(([k]) => k).join('|')})(?![\\w-])`, 'g');

/** `spec.node-selectors[0].match-labels` -> `spec.nodeSelectors[0].matchLabels` (quoted keys untouched). */
export function crPath(path: string): string {
  return path.replace(/(^|\.)([a-z0-9-]+)(?=$|[.[])/g, (all, dot: string, key: string) => dot + (TO_CR.get(key) ?? key));
}

/** A parser message with legacy key names replaced by the CR field names. */
export function crMessage(message: string): string {
  return message.replace(WORD, (k) => TO_CR.get(k) ?? k);
}

/** A CR spec mapping (and nested selectors) with legacy keys, for the ConfigMap parser's readers. */
export function toLegacyKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toLegacyKeys);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]): [string, unknown] => {
    const legacy = TO_LEGACY.get(k);
    // Label maps keep their keys: only the selector structure is renamed.
    return [legacy ?? k, k === 'matchLabels' ? v : toLegacyKeys(v)];
  });
  return Object.fromEntries(entries);
}

/** legacy -> CR key, for the ConfigMap -> CR conversion. */
export function crKey(legacy: string): string {
  return TO_CR.get(legacy) ?? legacy;
}
