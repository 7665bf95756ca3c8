// Would a new config break what Services hold? The one rule the controller, every speaker and
// `herald config check --services` apply (MetalLB's SetPools rule, plus the named pool): a Service's
// addresses break when one is in no pool of the new config, is now excluded by avoid-buggy-ips, no
// longer lies in the pool the Service names, or when a dual-stack pair would be split across two
// pools (a Service's addresses are one unit from one pool). Renaming, splitting or growing a pool,
// or changing auto-assign or protocol, moves no address (the speakers withdraw and re-announce).
import type { AddressPool } from '../config/model.js';
import { formatAddr, parseAddr } from './ip.js';
import type { PoolSet, PoolState } from './pool.js';

export interface IpCheck {
  ip: string;
  /** Pool in the current config (undefined if the address is in none). */
  pool: string | undefined;
  /** Pool in the new config. */
  newPool: string | undefined;
  breaking: boolean;
  reason: string;
}

export interface AssignmentCheck {
  key: string;
  breaking: boolean;
  ips: IpCheck[];
}

/** What a Service holds, as its status shows it (or the allocator records it). */
export interface HeldAddresses {
  /** `namespace/name`. */
  key: string;
  /** The addresses, one per family (canonical or not; unparsable ones are nobody's and skipped). */
  ips: readonly string[];
  /** The pool the Service names (address-pool annotation), if any. */
  pool?: string;
}

function sameRanges(a: AddressPool, b: AddressPool): boolean {
  const text = (p: AddressPool): string =>
    p.addresses
      .map((r) => `${r.family}:${r.first}-${r.last}`)
      .sort()
      .join(',');
  return text(a) === text(b);
}

/** What changed between the pool an address was in and the one it is in now (not breaking). */
function describeMove(from: PoolState | undefined, to: PoolState): string {
  if (!from) return `now in pool "${to.name}" (was in no pool)`;
  const changes: string[] = [];
  if (from.pool.protocol !== to.pool.protocol) changes.push(`protocol ${from.pool.protocol} -> ${to.pool.protocol}`);
  if (from.pool.autoAssign !== to.pool.autoAssign) changes.push(`auto-assign ${from.pool.autoAssign} -> ${to.pool.autoAssign}`);
  if (from.pool.avoidBuggyIps !== to.pool.avoidBuggyIps) changes.push(`avoid-buggy-ips ${from.pool.avoidBuggyIps} -> ${to.pool.avoidBuggyIps}`);
  if (!sameRanges(from.pool, to.pool)) changes.push('addresses changed');
  const where = from.name === to.name ? `pool "${to.name}"` : `now in pool "${to.name}" (was "${from.name}")`;
  if (changes.length === 0) return from.name === to.name ? `unchanged (pool "${to.name}")` : where;
  return `${where}: ${changes.join(', ')}`;
}

/** Describes each (from, to) pool pair once: most addresses move between the same few pairs. */
type MoveText = (from: PoolState | undefined, to: PoolState) => string;

function moveTexts(): MoveText {
  const moves = new Map<PoolState | undefined, Map<PoolState, string>>();
  return (from, to) => {
    let byTo = moves.get(from);
    if (!byTo) moves.set(from, (byTo = new Map()));
    let text = byTo.get(to);
    if (text === undefined) byTo.set(to, (text = describeMove(from, to)));
    return text;
  };
}

/** One held Service's verdict and reasons (undefined: none of its addresses parses). */
function checkOne(h: HeldAddresses, current: PoolSet | undefined, next: PoolSet, move: MoveText): AssignmentCheck | undefined {
  const ips: IpCheck[] = [];
  const pools: (PoolState | undefined)[] = [];
  for (const text of h.ips) {
    const a = parseAddr(text);
    if (a === undefined) continue;
    const ip = formatAddr(a);
    const from = current?.lookup(a);
    const to = next.lookup(a);
    let reason: string;
    let breaking = true;
    if (!to) reason = `${ip} is in no pool of the new config`;
    else if (!to.usable(a)) reason = `${ip} is excluded by avoid-buggy-ips in pool "${to.name}"`;
    else if (h.pool !== undefined && h.pool !== to.name) {
      reason = next.get(h.pool)
        ? `the Service asks for pool "${h.pool}", which no longer contains ${ip} (now in "${to.name}")`
        : `the Service asks for pool "${h.pool}", which the new config does not have`;
    } else {
      breaking = false;
      reason = current ? move(from, to) : `in pool "${to.name}"`;
    }
    ips.push({ ip, pool: from?.name, newPool: to?.name, breaking, reason });
    pools.push(to);
  }
  if (ips.length === 0) return undefined;
  // A dual-stack pair is one unit: both addresses fine alone but in two pools still breaks.
  if (ips.length === 2 && !ips[0].breaking && !ips[1].breaking && pools[0] !== pools[1]) {
    const [a, b] = ips;
    const why = `the dual-stack pair ${a.ip}, ${b.ip} would be split: ${a.ip} in pool "${a.newPool}", ${b.ip} in pool "${b.newPool}" (a Service's addresses come from one pool)`;
    for (const i of ips) Object.assign(i, { breaking: true, reason: why });
  }
  return { key: h.key, breaking: ips.some((i) => i.breaking), ips };
}

/** Whether checkOne would find `h` breaking, without building its reasons (no object, no text per address). */
function breaks(h: HeldAddresses, next: PoolSet): boolean {
  let parsed = 0;
  let first: PoolState | undefined;
  let second: PoolState | undefined;
  for (const text of h.ips) {
    const a = parseAddr(text);
    if (a === undefined) continue;
    const to = next.lookup(a);
    if (!to || !to.usable(a) || (h.pool !== undefined && h.pool !== to.name)) return true;
    if (parsed === 0) first = to;
    else if (parsed === 1) second = to;
    parsed++;
  }
  return parsed === 2 && first !== second;
}

/**
 * For every held Service: would it keep its addresses under `next`, and why (or why not).
 * `current` (the config in force, if any) only words the reasons of addresses that stay; the
 * verdicts depend on `next` and `held` alone, so every daemon reading the same statuses agrees.
 */
export function checkHeld(held: Iterable<HeldAddresses>, current: PoolSet | undefined, next: PoolSet): AssignmentCheck[] {
  const move = moveTexts();
  const out: AssignmentCheck[] = [];
  for (const h of held) {
    const c = checkOne(h, current, next, move);
    if (c) out.push(c);
  }
  return out;
}

/**
 * checkHeld's breaking Services with their breaking addresses only: what a config verdict needs. Each
 * Service that keeps its addresses costs a parse and a pool lookup per address and nothing kept: a
 * speaker's start judges its config against every status it holds in one event-loop turn, and the full
 * reasons of 100,000 Services held that turn past its Lease (it fenced at the start; README, Scale).
 */
export function breakingHeld(held: Iterable<HeldAddresses>, current: PoolSet | undefined, next: PoolSet): AssignmentCheck[] {
  const move = moveTexts();
  const out: AssignmentCheck[] = [];
  for (const h of held) {
    if (!breaks(h, next)) continue;
    const c = checkOne(h, current, next, move) as AssignmentCheck;
    out.push({ ...c, ips: c.ips.filter((i) => i.breaking) });
  }
  return out;
}
