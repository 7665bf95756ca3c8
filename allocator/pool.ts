// Per-pool allocation state built from a Config: each pool's free space per family, address -> pool
// lookup, and the usage counters behind stats(). An address listed in two pools belongs to the first
// (config order), so free space is never handed out twice even if a config overlaps. Addresses that can
// never be a host's (config/never-host.ts) are in no pool's free space, whatever the pool says.
import type { AddressPool, Config, Family } from '../config/model.js';
import { neverHost, neverHostBlocks } from '../config/never-host.js';
import { familyOfAddr, nextAddr, prevAddr, span, toAddr, toBigInt, type Addr } from './address.js';
import { FreeSpace, type Interval } from './free-space.js';
import { countBuggy, isBuggyAddr, skipBuggy } from './ip.js';
import { serviceFreeOrder } from './pool-choice.js';

export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

export interface FamilySpace {
  /** Disjoint, sorted address intervals this pool owns in this family. */
  ranges: Interval[];
  free: FreeSpace;
  /** Addresses the pool may hand out (without never-host addresses, after avoid-buggy-ips). */
  total: bigint;
  /** Distinct addresses held by Services. */
  inUse: number;
}

export class PoolState {
  readonly name: string;
  /** Position in the config: pools are tried in this order. */
  readonly index: number;
  readonly pool: AddressPool;
  private readonly spaces: Partial<Record<Family, FamilySpace>> = {};

  constructor(pool: AddressPool, index: number, ranges: Partial<Record<Family, Interval[]>>) {
    this.name = pool.name;
    this.index = index;
    this.pool = pool;
    for (const family of FAMILIES) {
      const rs = ranges[family];
      if (!rs || rs.length === 0) continue;
      const hosts = rs.flatMap((r) => subtract(r, neverHostBlocks(family).map((b) => ({ start: toAddr(family, b.first), end: toAddr(family, b.last) }))));
      let total = 0n;
      for (const r of hosts) {
        total += span(r.start, r.end);
        if (family === 'ipv4' && pool.avoidBuggyIps) total -= countBuggy(toBigInt(r.start), toBigInt(r.end));
      }
      this.spaces[family] = { ranges: rs, free: new FreeSpace(hosts), total, inUse: 0 };
    }
  }

  space(family: Family): FamilySpace | undefined {
    return this.spaces[family];
  }

  hasFamily(family: Family): boolean {
    return this.spaces[family] !== undefined;
  }

  /** False for addresses avoid-buggy-ips excludes (the config rule: a Service keeps any other address it holds). */
  usable(a: Addr): boolean {
    return !(this.pool.avoidBuggyIps && isBuggyAddr(a));
  }

  /** Whether the address may be given to a Service now: usable and a host's address. */
  allocatable(a: Addr): boolean {
    return this.usable(a) && neverHost(familyOfAddr(a), toBigInt(a)) === undefined;
  }

  /** The lowest free usable address, without taking it. */
  lowest(family: Family): Addr | undefined {
    const space = this.spaces[family];
    if (!space) return undefined;
    for (;;) {
      const first = space.free.first();
      if (!first) return undefined;
      const candidate = this.pool.avoidBuggyIps ? skipBuggy(first.start) : first.start;
      if (candidate <= first.end) return candidate;
      // Only excluded addresses left in this interval: they can never be handed out, so forget it.
      space.free.dropInterval(first.start);
    }
  }

  /** Marks an address held (it must be in this pool); counts it whether or not it was free. */
  hold(a: Addr): void {
    const space = this.spaces[familyOfAddr(a)] as FamilySpace;
    space.free.take(a);
    space.inUse++;
  }

  unhold(a: Addr): void {
    const family = familyOfAddr(a);
    const space = this.spaces[family] as FamilySpace;
    // A never-host address held from an old status was never free space and does not become it.
    if (neverHost(family, toBigInt(a)) === undefined) space.free.release(a);
    space.inUse--;
  }
}

interface Owned {
  start: Addr;
  end: Addr;
  pool: PoolState;
}

/** Sorts and merges overlapping or adjacent intervals. */
function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= nextAddr(last.end)) {
      if (i.end > last.end) last.end = i.end;
    } else out.push({ start: i.start, end: i.end });
  }
  return out;
}

/** Parts of `i` not covered by the sorted, disjoint `taken`. */
function subtract(i: Interval, taken: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let start = i.start;
  for (const t of taken) {
    if (t.end < start || t.start > i.end) continue;
    if (t.start > start) out.push({ start, end: prevAddr(t.start) });
    start = nextAddr(t.end);
    if (start > i.end) return out;
  }
  if (start <= i.end) out.push({ start, end: i.end });
  return out;
}

/** All pools of a config, in config order, with address -> pool lookup. */
export class PoolSet {
  readonly pools: PoolState[] = [];
  private readonly byName = new Map<string, PoolState>();
  private readonly owned: Record<Family, Owned[]> = { ipv4: [], ipv6: [] };
  /** The auto-assign order when it is the same for every Service (see serviceFreeOrder). */
  readonly autoOrder: PoolState[] | undefined;

  constructor(config: Config) {
    const claimed: Record<Family, Interval[]> = { ipv4: [], ipv6: [] };
    config.pools.forEach((pool, index) => {
      const ranges: Partial<Record<Family, Interval[]>> = {};
      for (const family of FAMILIES) {
        const own = merge(pool.addresses.filter((a) => a.family === family).map((a) => ({ start: toAddr(family, a.first), end: toAddr(family, a.last) })));
        const free = own.flatMap((i) => subtract(i, claimed[family]));
        ranges[family] = free;
        claimed[family] = merge([...claimed[family], ...free]);
      }
      const state = new PoolState(pool, index, ranges);
      this.pools.push(state);
      // Duplicate names are a config error the parser reports; the first wins here.
      if (!this.byName.has(pool.name)) this.byName.set(pool.name, state);
      for (const family of FAMILIES) {
        for (const r of ranges[family] ?? []) this.owned[family].push({ start: r.start, end: r.end, pool: state });
      }
    });
    for (const family of FAMILIES) this.owned[family].sort((a, b) => (a.start < b.start ? -1 : 1));
    this.autoOrder = serviceFreeOrder(this.pools);
  }

  get(name: string): PoolState | undefined {
    return this.byName.get(name);
  }

  /** The pool an address belongs to (binary search over the disjoint owned ranges). */
  lookup(num: Addr): PoolState | undefined {
    const owned = this.owned[familyOfAddr(num)];
    let lo = 0;
    let hi = owned.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const o = owned[mid];
      if (num < o.start) hi = mid - 1;
      else if (num > o.end) lo = mid + 1;
      else return o.pool;
    }
    return undefined;
  }
}
