// `bfd-profiles[]`: MetalLB's BFD profiles, with its ranges and defaults. Herald runs BFD in asynchronous
// mode only: `echo-mode: true` is accepted (MetalLB's configs must load) with a warning saying so.
import { checkKeys, expectMapping, readBoolean, readInteger, readString } from './fields.js';
import { Issues, indexPath, keyPath, quote } from './issues.js';
import type { BfdProfile } from './model.js';

export const BFD_PROFILE_KEYS = [
  'name',
  'receive-interval',
  'transmit-interval',
  'detect-multiplier',
  'echo-interval',
  'echo-mode',
  'passive-mode',
  'minimum-ttl',
] as const;

/** MetalLB's defaults (FRR's): 300 ms x 3, echo 50 ms, TTL 254. */
export const BFD_DEFAULTS = {
  receiveInterval: 300,
  transmitInterval: 300,
  detectMultiplier: 3,
  echoInterval: 50,
  echoMode: false,
  passiveMode: false,
  minimumTtl: 254,
} as const;

const INTERVAL = { min: 10, max: 60000 };

/** One profile (a `bfd-profiles` entry, or a BFDProfile CR's spec with its name, in legacy keys). */
export function parseBfdProfile(value: unknown, path: string, issues: Issues, warnings: Issues): BfdProfile | undefined {
  const obj = expectMapping(value, path, issues, 'a BFD profile');
  if (!obj) return undefined;
  const before = issues.count;
  checkKeys(obj, path, BFD_PROFILE_KEYS, issues);
  const name = readString(obj, 'name', path, issues, { required: true, what: 'profile name' });
  if (name === '') issues.add(keyPath(path, 'name'), 'profile name is empty; a BFD profile needs a name peers refer to');
  const ms = (key: string, what: string, fallback: number) => readInteger(obj, key, path, issues, { ...INTERVAL, what: `${what} in milliseconds` }) ?? fallback;
  const profile: BfdProfile = {
    name: name ?? '',
    receiveInterval: ms('receive-interval', 'receive interval', BFD_DEFAULTS.receiveInterval),
    transmitInterval: ms('transmit-interval', 'transmit interval', BFD_DEFAULTS.transmitInterval),
    detectMultiplier: readInteger(obj, 'detect-multiplier', path, issues, { min: 2, max: 255, what: 'detect multiplier' }) ?? BFD_DEFAULTS.detectMultiplier,
    echoInterval: ms('echo-interval', 'echo interval', BFD_DEFAULTS.echoInterval),
    echoMode: readBoolean(obj, 'echo-mode', path, issues) ?? BFD_DEFAULTS.echoMode,
    passiveMode: readBoolean(obj, 'passive-mode', path, issues) ?? BFD_DEFAULTS.passiveMode,
    minimumTtl: readInteger(obj, 'minimum-ttl', path, issues, { min: 1, max: 254, what: 'minimum TTL' }) ?? BFD_DEFAULTS.minimumTtl,
  };
  if (issues.count > before) return undefined;
  if (profile.echoMode) {
    warnings.add(
      keyPath(path, 'echo-mode'),
      `BFD profile ${quote(profile.name)} sets echo-mode, which Herald does not implement: only asynchronous mode runs (control packets every transmit-interval); echo-interval is ignored`,
    );
  }
  return profile;
}

/** Every valid profile of the `bfd-profiles` list; duplicate names are refused, naming the first. */
export function parseBfdProfiles(list: readonly unknown[], issues: Issues, warnings: Issues): BfdProfile[] {
  const profiles: BfdProfile[] = [];
  const seen = new Map<string, string>();
  list.forEach((p, i) => {
    const at = indexPath('bfd-profiles', i);
    const profile = parseBfdProfile(p, at, issues, warnings);
    if (!profile) return;
    const first = seen.get(profile.name);
    if (first !== undefined) {
      issues.add(keyPath(at, 'name'), `duplicate BFD profile name ${quote(profile.name)} (first defined at ${first}); profile names must be unique`);
      return;
    }
    seen.set(profile.name, keyPath(at, 'name'));
    profiles.push(profile);
  });
  return profiles;
}
