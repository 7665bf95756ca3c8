// Would a new config break what Services hold? An address breaks when it is in no pool of the new
// config, is now excluded by avoid-buggy-ips, or no longer lies in the pool its Service names.
// Renaming, splitting or growing a pool, or changing auto-assign or protocol, moves no address.
import type { AddressPool } from '../config/model.js';
import type { PoolSet, PoolState } from './pool.js';
import { familyOf, type ServiceRecord, type Slot } from './records.js';

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

export function checkAgainst(records: Iterable<ServiceRecord>, current: PoolSet, next: PoolSet): AssignmentCheck[] {
  // Most addresses move between the same few pool pairs: describe each pair once.
  const moves = new Map<PoolState | undefined, Map<PoolState, string>>();
  const move = (from: PoolState | undefined, to: PoolState): string => {
    let byTo = moves.get(from);
    if (!byTo) moves.set(from, (byTo = new Map()));
    let text = byTo.get(to);
    if (text === undefined) byTo.set(to, (text = describeMove(from, to)));
    return text;
  };
  const out: AssignmentCheck[] = [];
  const check = (rec: ServiceRecord, slot: Slot): IpCheck => {
    const family = familyOf(slot);
    const from = current.lookup(family, slot.num);
    const to = next.lookup(family, slot.num);
    const named = rec.extra?.pool;
    let reason: string;
    let breaking = true;
    if (!to) reason = `${slot.text} is in no pool of the new config`;
    else if (!to.usable(family, slot.num)) reason = `${slot.text} is excluded by avoid-buggy-ips in pool "${to.name}"`;
    else if (named !== undefined && named !== to.name) {
      reason = next.get(named)
        ? `the Service asks for pool "${named}", which no longer contains ${slot.text} (now in "${to.name}")`
        : `the Service asks for pool "${named}", which the new config does not have`;
    } else {
      breaking = false;
      reason = move(from, to);
    }
    return { ip: slot.text, pool: from?.name, newPool: to?.name, breaking, reason };
  };
  for (const rec of records) {
    const first = check(rec, rec.first);
    if (!rec.second) {
      out.push({ key: rec.key, breaking: first.breaking, ips: [first] });
      continue;
    }
    const second = check(rec, rec.second);
    out.push({ key: rec.key, breaking: first.breaking || second.breaking, ips: [first, second] });
  }
  return out;
}
