// The IP allocator: which Service holds which address. Pure (no Kubernetes, no I/O, no clock).
// Pools are tried in config order, the lowest free address first; sharing follows MetalLB's rules.
// Every operation costs O(log n) in the number of held addresses (plus the few Services sharing a key),
// and memory grows with held addresses only, never with pool size.
import type { Config, Family, Protocol } from '../config/model.js';
import { AllocationError, type AllocationFailure } from './errors.js';
import { checkHeld, type AssignmentCheck, type HeldAddresses } from './config-check.js';
import { neverHost } from '../config/never-host.js';
import { familyOfAddr, toBigInt, type Addr } from './address.js';
import { canonicalIp, formatAddr, parseAddr } from './ip.js';
import { FAMILIES, PoolSet, type PoolState } from './pool.js';
import { addUser, familyOf, makeExtra, removeUser, slotsOf, usersOf, type ServiceRecord, type Slot } from './records.js';
import { SlotIndex } from './slot-index.js';
import { whyIncompatible, type Sharing, type SharingHolder } from './sharing.js';
import { requestSharing, type ServiceRequest } from './service-request.js';
import { allows, autoAssignOrder, namespaceOfKey, type ServiceScope } from './pool-choice.js';

export { AllocationError } from './errors.js';
export type { AllocationFailure, AllocationReason } from './errors.js';
export type { AssignmentCheck, HeldAddresses, IpCheck } from './config-check.js';

/** What a Service holds. */
export interface Assignment {
  key: string;
  /** Canonical addresses, in the order of the Service's families. */
  ips: string[];
  /** The pool of the addresses (undefined if a restored address is in no pool). */
  pool: string | undefined;
  sharingKey?: string;
}

/** A Service whose current addresses could not be restored, and why (the first claimant keeps the address). */
export interface RestoreConflict {
  key: string;
  ip: string;
  holders: string[];
  why: string;
}

export interface RestoreEntry {
  request: ServiceRequest;
  /** The addresses the Service holds now (its status). */
  ips: string[];
}

export interface FamilyStats {
  total: bigint;
  inUse: number;
}

export interface PoolStats {
  name: string;
  protocol: Protocol;
  autoAssign: boolean;
  ipv4?: FamilyStats;
  ipv6?: FamilyStats;
}

interface Choice {
  family: Family;
  num: Addr;
  text: string;
  /** The address's pool under the current config (PoolSet.lookup), undefined when in none. */
  pool: PoolState | undefined;
  /** Taken from `pool`'s free space (fresh): no Service holds it, so there is no slot to look up. */
  free?: true;
}

export class Allocator {
  private pools: PoolSet;
  private readonly byKey = new Map<string, ServiceRecord>();
  private readonly byIp = new SlotIndex();
  /** Sharing key -> Services using it, to find an address to join. */
  private readonly bySharingKey = new Map<string, Set<ServiceRecord>>();
  /** Services we do not handle that hold addresses (their status): those addresses are taken. */
  private readonly foreign = new Map<string, ServiceRecord>();

  constructor(config: Config) {
    this.pools = new PoolSet(config);
  }

  /**
   * Gives `request` its addresses (or confirms the ones it holds, if they still satisfy it).
   * All or nothing: on failure the Service keeps what it had. Throws AllocationError.
   */
  allocate(request: ServiceRequest): Assignment {
    const sharing = requestSharing(request);
    validate(request);
    if (request.pool !== undefined && !this.pools.get(request.pool)) {
      throw new AllocationError({ reason: 'unknown-pool', pool: request.pool }, request.key);
    }
    const existing = this.byKey.get(request.key);
    if (existing && this.satisfies(existing, request, sharing)) {
      this.setExtra(existing, request.pool, sharing);
      if (existing.second && familyOf(existing.first) !== request.families[0]) {
        [existing.first, existing.second] = [existing.second, existing.first];
      }
      return this.toAssignment(existing);
    }
    if (existing) this.detach(existing);
    else if (sharing === undefined && request.pool === undefined && request.requestedIps.length === 0) {
      const fresh = this.allocateFresh(request);
      if (fresh) return fresh;
    }
    let choices: Choice[];
    try {
      choices = this.choose(request, sharing);
    } catch (e) {
      if (existing) this.attach(existing);
      throw e;
    }
    if (choices.length === 2 && choices[0].family !== request.families[0]) choices.reverse();
    return this.toAssignment(this.commit(request.key, request.pool, sharing, choices), choices[0].pool);
  }

  /** Frees what the Service holds (a shared address only when its last user goes). False if it held nothing. */
  release(key: string): boolean {
    const rec = this.byKey.get(key);
    if (!rec) return false;
    this.detach(rec);
    return true;
  }

  /**
   * Records addresses a Service's status shows that it does not hold here, so they are never handed
   * out while a status shows them: a Service we do not handle (another loadBalancerClass), or one of
   * ours whose status is being cleared (`clearing`: its addresses stay taken until the write lands).
   * Replaces what was recorded for `key` (empty `ips`: forget it). Returns the addresses one of our
   * Services holds too (a conflict another controller made: ours keeps its address, the caller reports
   * it); what a change freed, the caller reads with addressesOf and isTaken.
   */
  holdForeign(key: string, ips: readonly string[], clearing = false): { conflicts: { ip: string; holders: string[] }[] } {
    const old = this.foreign.get(key);
    // One address per family, as for our own records (a status with more is another controller's business).
    const next: Choice[] = [];
    for (const ip of ips) {
      const a = parseAddr(ip);
      if (a === undefined) continue;
      const family = familyOfAddr(a);
      if (!next.some((c) => c.family === family)) next.push({ family, num: a, text: formatAddr(a), pool: undefined });
    }
    const same = old !== undefined && (old.extra?.clearing ?? false) === clearing && slotsOf(old).map((s) => s.text).join() === next.map((c) => c.text).join();
    if (!same) {
      if (old) {
        this.detachSlot(old, old.first);
        if (old.second) this.detachSlot(old, old.second);
        this.foreign.delete(key);
      }
      if (next.length > 0) {
        const rec: ServiceRecord = { key, first: undefined as unknown as Slot, second: undefined, extra: { pool: undefined, sharing: undefined, foreign: true, ...(clearing ? { clearing: true as const } : {}) } };
        rec.first = this.attachSlot(rec, { text: next[0].text, num: next[0].num, users: rec });
        if (next[1]) rec.second = this.attachSlot(rec, { text: next[1].text, num: next[1].num, users: rec });
        this.foreign.set(key, rec);
      }
    }
    const rec = this.foreign.get(key);
    const conflicts: { ip: string; holders: string[] }[] = [];
    for (const slot of rec ? slotsOf(rec) : []) {
      const ours = usersOf(slot).filter((u) => !u.extra?.foreign).map((u) => u.key);
      if (ours.length > 0) conflicts.push({ ip: slot.text, holders: ours });
    }
    return { conflicts };
  }

  /** Every address `key` takes: what it holds and what holdForeign keeps for it. */
  addressesOf(key: string): string[] {
    const own = this.byKey.get(key);
    const held = this.foreign.get(key);
    return [...(own ? slotsOf(own) : []), ...(held ? slotsOf(held) : [])].map((s) => s.text);
  }

  /** Whether anything takes `ip` (held, shared, or kept by holdForeign). */
  isTaken(ip: string): boolean {
    const a = parseAddr(ip);
    return a !== undefined && this.byIp.get(a) !== undefined;
  }

  assignmentOf(key: string): Assignment | undefined {
    const rec = this.byKey.get(key);
    return rec && this.toAssignment(rec);
  }

  *assignments(): Generator<Assignment> {
    for (const rec of this.byKey.values()) yield this.toAssignment(rec);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The pool an address belongs to in the current config. */
  poolOf(ip: string): string | undefined {
    const a = parseAddr(ip);
    return a === undefined ? undefined : this.pools.lookup(a)?.name;
  }

  stats(): PoolStats[] {
    return this.pools.pools.map((p) => {
      const s: PoolStats = { name: p.name, protocol: p.pool.protocol, autoAssign: p.pool.autoAssign };
      for (const family of FAMILIES) {
        const space = p.space(family);
        if (space) s[family] = { total: space.total, inUse: space.inUse };
      }
      return s;
    });
  }

  /**
   * Records what Services already hold (from their status), before any allocation, so a restart
   * moves no address. Addresses outside every pool are recorded too (checkConfig reports them).
   * A Service claiming an address another restored Service holds without compatible sharing is
   * not restored and is reported; the first claimant keeps the address.
   */
  restore(entries: Iterable<RestoreEntry>): RestoreConflict[] {
    const conflicts: RestoreConflict[] = [];
    for (const { request, ips } of entries) {
      if (ips.length === 0) continue;
      const sharing = requestSharing(request);
      if (this.byKey.has(request.key)) {
        conflicts.push({ key: request.key, ip: ips[0], holders: [request.key], why: 'the Service was restored twice' });
        continue;
      }
      const choices: Choice[] = [];
      let conflict: RestoreConflict | undefined;
      for (const ip of ips) {
        const a = parseAddr(ip);
        if (a === undefined) {
          conflict = { key: request.key, ip, holders: [], why: `"${ip}" is not an IP address` };
          break;
        }
        const family = familyOfAddr(a);
        const text = formatAddr(a);
        if (choices.some((c) => c.family === family)) {
          conflict = { key: request.key, ip: text, holders: [], why: `the Service holds more than one ${family} address` };
          break;
        }
        const slot = this.byIp.get(a);
        const why = slot && whyIncompatible(request.key, sharing, holders(slot));
        if (slot && why) {
          conflict = { key: request.key, ip: text, holders: usersOf(slot).map((u) => u.key), why };
          break;
        }
        choices.push({ family, num: a, text, pool: this.pools.lookup(a) });
      }
      if (!conflict && choices.length === 2 && choices[0].pool && choices[1].pool && choices[0].pool !== choices[1].pool) {
        // A dual-stack pair is one unit from one pool: a status that splits it is not restored.
        const [a, b] = choices as [Choice & { pool: PoolState }, Choice & { pool: PoolState }];
        conflict = { key: request.key, ip: b.text, holders: [], why: `the dual-stack pair is split across pools: ${a.text} in "${a.pool.name}", ${b.text} in "${b.pool.name}"` };
      }
      if (conflict) conflicts.push(conflict);
      else this.commit(request.key, request.pool, sharing, choices);
    }
    return conflicts;
  }

  /** For every current assignment: would it survive `config`, and why (or why not). Changes nothing. */
  checkConfig(config: Config): AssignmentCheck[] {
    return checkHeld(this.held(), this.pools, new PoolSet(config));
  }

  /** What every Service holds, in the shared config rule's terms. */
  *held(): Generator<HeldAddresses> {
    for (const rec of this.byKey.values()) yield { key: rec.key, ips: slotsOf(rec).map((s) => s.text), pool: rec.extra?.pool };
  }

  /** Switches to `config`, keeping every assignment (even ones checkConfig calls breaking: refusing is the caller's job). */
  setConfig(config: Config): void {
    this.pools = new PoolSet(config);
    for (const slot of this.byIp.values()) this.poolOfSlot(slot)?.hold(slot.num);
  }

  // --- choosing addresses (no state changes except forgetting unusable free intervals) ---

  private choose(req: ServiceRequest, sharing: Sharing | undefined): Choice[] {
    const choices: Choice[] = [];
    let anchor: PoolState | undefined;
    for (const ip of req.requestedIps) {
      const a = parseAddr(ip) as Addr;
      const family = familyOfAddr(a);
      const text = formatAddr(a);
      const pool = this.pools.lookup(a);
      if (!pool) throw new AllocationError({ reason: 'ip-not-in-pool', ip: text }, req.key);
      if (!pool.usable(a)) throw new AllocationError({ reason: 'ip-excluded', ip: text, pool: pool.name }, req.key);
      const never = neverHost(family, toBigInt(a));
      if (never !== undefined) throw new AllocationError({ reason: 'ip-excluded', ip: text, pool: pool.name, neverHost: never }, req.key);
      const required = req.pool ?? anchor?.name;
      if (required !== undefined && pool.name !== required) {
        throw new AllocationError({ reason: 'pool-mismatch', ip: text, pool: pool.name, requiredPool: required }, req.key);
      }
      permitted(pool, scopeOf(req), req.key, text);
      anchor = pool;
      const slot = this.byIp.get(a);
      const why = slot && whyIncompatible(req.key, sharing, holders(slot));
      if (slot && why) throw new AllocationError({ reason: 'ip-in-use', ip: text, holders: usersOf(slot).map((u) => u.key), why }, req.key);
      choices.push({ family, num: a, text, pool });
    }
    let missing: readonly Family[] = req.families;
    if (choices.length > 0) {
      missing = req.families.filter((f) => !choices.some((c) => c.family === f));
      if (missing.length === 0) return choices;
    }

    if (anchor) {
      // Dual-stack with one address requested: the other comes from the same pool.
      const pool = anchor;
      for (const family of missing) {
        if (!pool.hasFamily(family)) throw new AllocationError({ reason: 'family-mismatch', family, pool: pool.name }, req.key);
      }
      const joined = sharing && this.findJoin(req.key, sharing, missing, (p) => (p === pool ? 0 : undefined));
      if (joined) return [...choices, ...joined];
      return [...choices, ...this.fresh(req.key, pool, missing)];
    }

    const named = req.pool === undefined ? undefined : this.pools.get(req.pool);
    if (named) {
      permitted(named, scopeOf(req), req.key);
      for (const family of missing) {
        if (!named.hasFamily(family)) throw new AllocationError({ reason: 'family-mismatch', family, pool: named.name }, req.key);
      }
    }
    const order = named ? [named] : (this.pools.autoOrder ?? this.autoOrderFor(req));
    if (sharing) {
      const rank = new Map(order.map((p, i) => [p, i]));
      const joined = this.findJoin(req.key, sharing, missing, (p) => rank.get(p));
      if (joined) return joined;
    }
    let exhausted: Family | undefined;
    for (const pool of order) {
      if (!named && !(pool.hasFamily(missing[0]) && (missing.length === 1 || pool.hasFamily(missing[1])))) continue;
      let lacking: Family | undefined;
      for (const f of missing) if (pool.lowest(f) === undefined) lacking ??= f;
      if (lacking === undefined) return this.fresh(req.key, pool, missing);
      exhausted ??= lacking;
    }
    if (exhausted === undefined) {
      // No auto-assign pool the Service may use serves all the families asked for.
      const family = missing.find((f) => !order.some((p) => p.hasFamily(f))) ?? missing[0];
      throw new AllocationError({ reason: 'family-mismatch', family }, req.key);
    }
    throw new AllocationError({ reason: 'pool-exhausted', family: exhausted, pool: named?.name }, req.key);
  }

  /**
   * choose() and commit() for the common request, a new Service asking for no address, pool or sharing
   * while every Service tries the pools in one order: the lowest free addresses of the first pool in that
   * order serving its families, taken without Choice objects or a second walk of the free space.
   * Undefined when no pool has them (choose() then finds the error to throw).
   */
  private allocateFresh(req: ServiceRequest): Assignment | undefined {
    const order = this.pools.autoOrder;
    if (!order) return undefined;
    const f0 = req.families[0];
    const f1 = req.families.length > 1 ? req.families[1] : undefined;
    for (const pool of order) {
      if (!pool.hasFamily(f0) || (f1 !== undefined && !pool.hasFamily(f1))) continue;
      const a0 = pool.lowest(f0);
      const a1 = f1 === undefined ? undefined : pool.lowest(f1);
      if (a0 === undefined || (f1 !== undefined && a1 === undefined)) continue;
      const rec: ServiceRecord = { key: req.key, first: undefined as unknown as Slot, second: undefined, extra: undefined };
      rec.first = this.takeFree(rec, pool, a0, formatAddr(a0));
      if (a1 !== undefined) rec.second = this.takeFree(rec, pool, a1, formatAddr(a1));
      this.byKey.set(req.key, rec);
      return { key: req.key, ips: rec.second ? [rec.first.text, rec.second.text] : [rec.first.text], pool: pool.name };
    }
    return undefined;
  }

  /** A new slot for `num` (its text: `text`), free in `pool`: taken from its free space and indexed. */
  private takeFree(rec: ServiceRecord, pool: PoolState, num: Addr, text: string): Slot {
    const slot: Slot = { text, num, users: rec };
    pool.hold(num);
    this.byIp.add(slot);
    return slot;
  }

  /** The pools a request naming none tries, in order, when that depends on the Service. */
  private autoOrderFor(req: ServiceRequest): PoolState[] {
    const scope = scopeOf(req);
    const auto = autoAssignOrder(this.pools.pools, scope);
    // Choosing without a Namespace's labels could pick a pool its own pools should have come before.
    if (auto.unknownNamespace) throw new AllocationError({ reason: 'namespace-unknown', namespace: scope.namespace }, req.key);
    return auto.order;
  }

  /** The lowest free address of each family in `pool`. */
  private fresh(key: string, pool: PoolState, families: readonly Family[]): Choice[] {
    const out: Choice[] = [];
    for (const family of families) {
      const num = pool.lowest(family);
      if (num === undefined) throw new AllocationError({ reason: 'pool-exhausted', family, pool: pool.name }, key);
      out.push({ family, num, text: formatAddr(num), pool, free: true });
    }
    return out;
  }

  /**
   * Addresses of another Service with the same sharing key that this one may join: all `families`
   * from one pool the request may use (`rank`: its place in the order the request tries pools, undefined:
   * not one it may use), compatible with every holder. Lowest (pool order, address) wins.
   */
  private findJoin(key: string, sharing: Sharing, families: readonly Family[], rank: (p: PoolState) => number | undefined): Choice[] | undefined {
    let best: Choice[] | undefined;
    let bestRank = Infinity;
    for (const rec of this.bySharingKey.get(sharing.key) ?? []) {
      if (rec.key === key) continue;
      const slots: Choice[] = [];
      for (const family of families) {
        const slot = familyOf(rec.first) === family ? rec.first : rec.second && familyOf(rec.second) === family ? rec.second : undefined;
        const pool = slot && this.poolOfSlot(slot);
        if (!slot || !pool || rank(pool) === undefined || !pool.allocatable(slot.num)) break;
        if (slots.length > 0 && slots[0].pool !== pool) break;
        if (whyIncompatible(key, sharing, holders(slot)) !== undefined) break;
        slots.push({ family, num: slot.num, text: slot.text, pool });
      }
      if (slots.length !== families.length) continue;
      const a = slots[0];
      const r = rank(a.pool as PoolState) as number;
      if (!best || r < bestRank || (r === bestRank && a.num < best[0].num)) {
        best = slots;
        bestRank = r;
      }
    }
    return best;
  }

  /** Whether what `rec` holds still answers `req` (so re-allocating keeps it). */
  private satisfies(rec: ServiceRecord, req: ServiceRequest, sharing: Sharing | undefined): boolean {
    const slots = slotsOf(rec);
    if (slots.length !== req.families.length) return false;
    let first: PoolState | undefined;
    for (const slot of slots) {
      const family = familyOf(slot);
      const pool = this.pools.lookup(slot.num);
      if (!req.families.includes(family)) return false;
      if (!pool || !pool.usable(slot.num)) return false;
      // Both addresses of a dual-stack Service from one pool (a pair split by a restore is re-allocated).
      if (first && pool !== first) return false;
      first = pool;
      if (req.pool !== undefined && pool.name !== req.pool) return false;
      // A Service we do not handle claiming our address later does not move ours (holdForeign reports it).
      if (slot.users !== rec && whyIncompatible(req.key, sharing, holders(slot).filter((h) => !h.foreign)) !== undefined) return false;
    }
    for (const ip of req.requestedIps) {
      const text = canonicalIp(ip);
      if (!slots.some((s) => s.text === text)) return false;
    }
    return true;
  }

  // --- state changes ---

  private commit(key: string, pool: string | undefined, sharing: Sharing | undefined, choices: Choice[]): ServiceRecord {
    const rec: ServiceRecord = { key, first: undefined as unknown as Slot, second: undefined, extra: makeExtra(pool, sharing) };
    rec.first = this.take(rec, choices[0]);
    if (choices.length > 1) rec.second = this.take(rec, choices[1]);
    this.byKey.set(key, rec);
    if (sharing) this.indexSharing(rec, sharing.key);
    return rec;
  }

  /** The slot for a chosen address: a new one for a free address (the common case: no index lookup,
   * its pool already known), else attachSlot's (join the holders, or take it). */
  private take(rec: ServiceRecord, c: Choice): Slot {
    if (!c.free) return this.attachSlot(rec, { text: c.text, num: c.num, users: rec });
    return this.takeFree(rec, c.pool as PoolState, c.num, c.text);
  }

  /** Adds a record: joins the slots already held for its addresses, or takes them from the pools. */
  private attach(rec: ServiceRecord): void {
    rec.first = this.attachSlot(rec, rec.first);
    if (rec.second) rec.second = this.attachSlot(rec, rec.second);
    this.byKey.set(rec.key, rec);
    const sharing = rec.extra?.sharing;
    if (sharing) this.indexSharing(rec, sharing.key);
  }

  private attachSlot(rec: ServiceRecord, own: Slot): Slot {
    const held = this.byIp.get(own.num);
    if (held) {
      addUser(held, rec);
      return held;
    }
    own.users = rec;
    this.poolOfSlot(own)?.hold(own.num);
    this.byIp.add(own);
    return own;
  }

  private detach(rec: ServiceRecord): void {
    this.detachSlot(rec, rec.first);
    if (rec.second) this.detachSlot(rec, rec.second);
    this.byKey.delete(rec.key);
    const sharing = rec.extra?.sharing;
    if (sharing) this.unindexSharing(rec, sharing.key);
  }

  private detachSlot(rec: ServiceRecord, slot: Slot): void {
    if (removeUser(slot, rec) > 0) return;
    this.byIp.delete(slot);
    this.poolOfSlot(slot)?.unhold(slot.num);
  }

  /** Updates the pool and sharing a held record asks for, keeping the sharing index right. */
  private setExtra(rec: ServiceRecord, pool: string | undefined, sharing: Sharing | undefined): void {
    const old = rec.extra?.sharing;
    if (old) this.unindexSharing(rec, old.key);
    rec.extra = makeExtra(pool, sharing);
    if (sharing) this.indexSharing(rec, sharing.key);
  }

  private indexSharing(rec: ServiceRecord, key: string): void {
    let set = this.bySharingKey.get(key);
    if (!set) this.bySharingKey.set(key, (set = new Set()));
    set.add(rec);
  }

  private unindexSharing(rec: ServiceRecord, key: string): void {
    const set = this.bySharingKey.get(key);
    set?.delete(rec);
    if (set?.size === 0) this.bySharingKey.delete(key);
  }

  /** The pool an address belongs to under the current config (derived, not stored, so setConfig moves it). */
  private poolOfSlot(slot: Slot): PoolState | undefined {
    return this.pools.lookup(slot.num);
  }

  /** `pool`: the pool of rec.first when the caller knows it (saves a lookup). */
  private toAssignment(rec: ServiceRecord, pool = this.poolOfSlot(rec.first)): Assignment {
    const ips = rec.second ? [rec.first.text, rec.second.text] : [rec.first.text];
    const a: Assignment = { key: rec.key, ips, pool: pool?.name };
    const sharing = rec.extra?.sharing;
    if (sharing) a.sharingKey = sharing.key;
    return a;
  }
}

/** What of the request the serviceAllocation rules read. */
function scopeOf(req: ServiceRequest): ServiceScope {
  return { namespace: namespaceOfKey(req.key), labels: req.labels ?? {}, namespaceLabels: req.namespaceLabels };
}

/** Throws unless the pool's serviceAllocation lets the Service (named `key`) take addresses from it. */
function permitted(pool: PoolState, scope: ServiceScope, key: string, ip?: string): void {
  const ok = allows(pool.pool.serviceAllocation, scope);
  if (ok === undefined) throw new AllocationError({ reason: 'namespace-unknown', namespace: scope.namespace }, key);
  if (!ok) throw new AllocationError(ip === undefined ? { reason: 'pool-not-allowed', pool: pool.name } : { reason: 'pool-not-allowed', pool: pool.name, ip }, key);
}

function holders(slot: Slot): SharingHolder[] {
  return usersOf(slot).map((u) =>
    u.extra?.foreign ? { key: u.key, sharing: undefined, foreign: true, ...(u.extra.clearing ? { clearing: true } : {}) } : { key: u.key, sharing: u.extra?.sharing },
  );
}

function invalid(field: string, problem: string, key: string): AllocationError {
  const failure: AllocationFailure = { reason: 'invalid-request', field, problem };
  return new AllocationError(failure, key);
}

/** Checks a hand-built request the way serviceRequest() guarantees for parsed ones. */
function validate(req: ServiceRequest): void {
  const f = req.families;
  if (f.length < 1 || f.length > 2 || (f.length === 2 && f[0] === f[1])) {
    throw invalid('families', 'must be one family or both', req.key);
  }
  if (req.requestedIps.length === 0) return;
  const seen = new Set<Family>();
  for (const ip of req.requestedIps) {
    const a = parseAddr(ip);
    if (a === undefined) throw invalid('requestedIps', `"${ip}" is not an IP address`, req.key);
    const family = familyOfAddr(a);
    if (seen.has(family)) throw invalid('requestedIps', `more than one ${family} address`, req.key);
    seen.add(family);
    if (!req.families.includes(family)) {
      throw new AllocationError({ reason: 'family-mismatch', family, ip: formatAddr(a) }, req.key);
    }
  }
}
