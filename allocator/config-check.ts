// Would a new config break what Services hold? The one rule the controller, every speaker and
// `herald config check --services` apply (MetalLB's SetPools rule, plus the named pool): a Service's
// addresses break when one is in no pool of the new config, is now excluded by avoid-buggy-ips, no
// longer lies in the pool the Service names, or when a dual-stack pair would be split across two
// pools (a Service's addresses are one unit from one pool). Renaming, splitting or growing a pool,
// or changing auto-assign or protocol, moves no address (the speakers withdraw and re-announce).
import type { AddressPool } from '../config/model.js';
import type { Addr } from './address.js';
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

/** Why one address of a held Service breaks under the new config (undefined: it stays). */
type AddressBreak = 'noPool' | 'avoided' | 'otherPool';

/** A held Service under the new config: it keeps its addresses, one breaks, or its dual-stack pair would be split; none: no address parses. */
type Verdict = 'keeps' | 'breaks' | 'split' | 'none';

/** Told each parsed address, the pool it is in under the new config, and why it breaks (undefined: it stays). */
type AddressSink = (a: Addr, to: PoolState | undefined, why: AddressBreak | undefined) => void;

/**
 * The rule, once, for one held Service. Without `each` it answers as soon as an address breaks and
 * builds nothing (breakingHeld's pass over every status a speaker holds at its start); with it every
 * address is judged and told, to word the reasons (checkOne).
 */
function judge(h: HeldAddresses, next: PoolSet, each: AddressSink | undefined): Verdict {
  let parsed = 0;
  let broken = false;
  let first: PoolState | undefined;
  let second: PoolState | undefined;
  for (const text of h.ips) {
    const a = parseAddr(text);
    if (a === undefined) continue;
    const to = next.lookup(a);
    const why: AddressBreak | undefined = !to ? 'noPool' : !to.usable(a) ? 'avoided' : h.pool !== undefined && h.pool !== to.name ? 'otherPool' : undefined;
    if (why !== undefined) {
      if (!each) return 'breaks';
      broken = true;
    }
    each?.(a, to, why);
    if (parsed === 0) first = to;
    else if (parsed === 1) second = to;
    parsed++;
  }
  if (parsed === 0) return 'none';
  if (broken) return 'breaks';
  // A dual-stack pair is one unit: both addresses fine alone but in two pools still breaks.
  return parsed === 2 && first !== second ? 'split' : 'keeps';
}

/** One held Service's verdict (judge) and reasons (undefined: none of its addresses parses). */
function checkOne(h: HeldAddresses, current: PoolSet | undefined, next: PoolSet, move: MoveText): AssignmentCheck | undefined {
  const ips: IpCheck[] = [];
  const verdict = judge(h, next, (a, to, why) => {
    const ip = formatAddr(a);
    const from = current?.lookup(a);
    ips.push({ ip, pool: from?.name, newPool: to?.name, breaking: why !== undefined, reason: reasonOf(h, ip, from, to, why, next, current !== undefined, move) });
  });
  if (verdict === 'none') return undefined;
  if (verdict === 'split') {
    const [a, b] = ips;
    const why = `the dual-stack pair ${a.ip}, ${b.ip} would be split: ${a.ip} in pool "${a.newPool}", ${b.ip} in pool "${b.newPool}" (a Service's addresses come from one pool)`;
    for (const i of ips) Object.assign(i, { breaking: true, reason: why });
  }
  return { key: h.key, breaking: verdict !== 'keeps', ips };
}

/** The words for one address's verdict. */
function reasonOf(h: HeldAddresses, ip: string, from: PoolState | undefined, to: PoolState | undefined, why: AddressBreak | undefined, next: PoolSet, hasCurrent: boolean, move: MoveText): string {
  switch (why) {
    case 'noPool':
      return `${ip} is in no pool of the new config`;
    case 'avoided':
      return `${ip} is excluded by avoid-buggy-ips in pool "${to?.name}"`;
    case 'otherPool':
      return next.get(h.pool as string)
        ? `the Service asks for pool "${h.pool}", which no longer contains ${ip} (now in "${to?.name}")`
        : `the Service asks for pool "${h.pool}", which the new config does not have`;
    case undefined:
      return hasCurrent ? move(from, to as PoolState) : `in pool "${(to as PoolState).name}"`;
  }
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
    const verdict = judge(h, next, undefined);
    if (verdict === 'keeps' || verdict === 'none') continue;
    const c = checkOne(h, current, next, move) as AssignmentCheck;
    out.push({ ...c, ips: c.ips.filter((i) => i.breaking) });
  }
  return out;
}
