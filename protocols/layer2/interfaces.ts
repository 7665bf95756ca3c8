// Which interfaces the announcer serves: by default every Ethernet interface that is up,
// broadcast-capable, not NOARP and not enslaved to a bridge or bond (its master answers instead),
// minus an exclude list; or an explicit list. Read from /sys/class/net, which `ip netns exec`
// remounts for the namespace.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseMac } from '../rawio/mac.js';
import type { LinkInfo } from './io.js';

export const DEFAULT_EXCLUDES = ['^lo$', '^docker', '^cali', '^kube-ipvs', '^cni', '^flannel', '^cilium', '^vxlan'];

const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;
const IFF_NOARP = 0x80;
const ARPHRD_ETHER = 1;

/** What we read about one interface. */
export interface LinkFacts {
  name: string;
  flags: number;
  /** ARPHRD_* type. */
  type: number;
  mac: string;
  /** Enslaved to a bridge or bond. */
  hasMaster: boolean;
}

/** The system's view, injectable for tests. */
export interface LinkSource {
  links(): LinkFacts[];
}

export interface InterfaceSelection {
  /** Serve exactly these (when non-empty); the exclude list and the master check do not apply. */
  include?: string[];
  /** Regexes of names never served automatically. */
  exclude?: RegExp[];
}

export interface SelectionResult {
  links: LinkInfo[];
  skipped: Array<{ name: string; reason: string }>;
}

/** A bad --exclude-interface regex, naming it. */
export class InterfaceSelectionError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'InterfaceSelectionError';
    this.field = field;
  }
}

export function compileExcludes(patterns: string[]): RegExp[] {
  return patterns.map((p, i) => {
    try {
      return new RegExp(p);
    } catch (e) {
      throw new InterfaceSelectionError(`exclude[${i}]`, `invalid regex ${JSON.stringify(p)}: ${(e as Error).message}`);
    }
  });
}

export function selectInterfaces(facts: LinkFacts[], sel: InterfaceSelection): SelectionResult {
  const include = sel.include ?? [];
  const exclude = sel.exclude ?? compileExcludes(DEFAULT_EXCLUDES);
  const byName = new Map(facts.map((f) => [f.name, f]));
  const links: LinkInfo[] = [];
  const skipped: SelectionResult['skipped'] = [];
  const candidates = include.length > 0 ? include : facts.map((f) => f.name).sort();
  for (const name of candidates) {
    const f = byName.get(name);
    const reason = !f ? 'not found' : ineligible(f, include.length > 0, exclude);
    if (reason !== null || !f) {
      skipped.push({ name, reason: reason ?? 'not found' });
      continue;
    }
    links.push({ name, mac: parseMac(f.mac) });
  }
  return { links, skipped };
}

function ineligible(f: LinkFacts, explicit: boolean, exclude: RegExp[]): string | null {
  if (!explicit) {
    const rx = exclude.find((r) => r.test(f.name));
    if (rx) return `excluded by /${rx.source}/`;
    if (f.hasMaster) return 'member of a bridge or bond';
  }
  if (f.type !== ARPHRD_ETHER || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(f.mac)) return 'not Ethernet';
  if (f.flags & IFF_LOOPBACK) return 'loopback';
  if (!(f.flags & IFF_UP)) return 'down';
  if (!(f.flags & IFF_BROADCAST)) return 'not broadcast-capable';
  if (f.flags & IFF_NOARP) return 'NOARP';
  return null;
}

function readAttr(dir: string, attr: string): string | undefined {
  try {
    return readFileSync(`${dir}/${attr}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** One interface's facts from /sys/class/net, or undefined when it is not there (or vanished while reading). */
export function readLinkFacts(name: string): LinkFacts | undefined {
  const dir = `/sys/class/net/${name}`;
  const flags = readAttr(dir, 'flags');
  const type = readAttr(dir, 'type');
  if (flags === undefined || type === undefined) return undefined;
  return { name, flags: parseInt(flags, 16), type: Number(type), mac: readAttr(dir, 'address') ?? '', hasMaster: existsSync(`${dir}/master`) };
}

/** /sys/class/net of the current network namespace. */
export const sysLinkSource: LinkSource = {
  links(): LinkFacts[] {
    let names: string[];
    try {
      names = readdirSync('/sys/class/net');
    } catch {
      return [];
    }
    const out: LinkFacts[] = [];
    for (const name of names) {
      const f = readLinkFacts(name);
      if (f) out.push(f);
    }
    return out;
  },
};
