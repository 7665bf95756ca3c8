// Adj-RIB-Out of one session: the desired routes (prefix -> attributes) and what the peer has
// been sent, so changes go out as deltas grouped by identical attributes. Built for 100k+ routes:
// routes live in typed arrays indexed by a slot number (no object per route, so little for the
// garbage collector to trace), IPv4 routes are found by their 32-bit address in a map per prefix
// length (a small-integer key, not a heap number), and a delta is handed to the encoder straight
// from reused scratch arrays (drain) rather than built as per-route objects.
import { parsePrefix, Prefix, type AddressFamily } from './prefix.js';
import type { LargeCommunity } from './attributes.js';

/** Per-route attributes at the API surface; the session fills in origin, AS path and defaults. */
export interface RouteAttributes {
  /** Next hop; default: the session's local address of the prefix's family. */
  nextHop?: string;
  /** IPv6 only: link-local next hop sent alongside the global one (on-link sessions). */
  nextHopLinkLocal?: string;
  /** Sent on iBGP sessions only (default 100 there). */
  localPref?: number;
  med?: number;
  /** RFC 1997 communities as unsigned 32-bit numbers (AS << 16 | value). */
  communities?: number[];
  largeCommunities?: LargeCommunity[];
}

/** The attributes used when none are given (shared, so it is keyed once). */
export const NO_ATTRIBUTES: RouteAttributes = Object.freeze({});

/** A group of prefixes with identical attributes, to announce together. */
export interface AnnounceGroup {
  family: AddressFamily;
  /** Canonical text of the attributes (stable across sessions; used to cache compiled attributes). */
  classKey: string;
  attrs: RouteAttributes;
  prefixes: Prefix[];
}

export interface RibDelta {
  announce: AnnounceGroup[];
  withdraw: Record<AddressFamily, Prefix[]>;
}

/**
 * Receives a delta from AdjRibOut.drain: withdrawals first, then one call per announcement group.
 * The arrays are the RIB's reused scratch space: read [start, end) during the call, keep nothing.
 * IPv4 prefixes come as addresses with lengths, or all /32 when `lengths` is undefined (the
 * shape UpdateEncoder.encodeAnnounceV4 takes).
 */
export interface RibDeltaSink {
  withdrawV4(addresses: Uint32Array, lengths: Uint8Array | undefined, start: number, end: number): void;
  withdrawV6(prefixes: readonly Prefix[], start: number, end: number): void;
  announceV4(classKey: string, attrs: RouteAttributes, addresses: Uint32Array, lengths: Uint8Array | undefined, start: number, end: number): void;
  announceV6(classKey: string, attrs: RouteAttributes, prefixes: readonly Prefix[], start: number, end: number): void;
}

/** Canonical text of attributes (equal text = same advertisement class). */
export function attributesKey(a: RouteAttributes): string {
  return JSON.stringify([a.nextHop ?? null, a.nextHopLinkLocal ?? null, a.localPref ?? null, a.med ?? null, a.communities ?? [], (a.largeCommunities ?? []).map((l) => [l.globalAdmin, l.localData1, l.localData2])]);
}

/** Slot class values besides a class id. */
const NOT_DESIRED = -1;
const FREE = -2;
/** Slot `sent` value: the peer does not have the route. */
const NOT_SENT = -1;
const V4 = 0;
const V6 = 1;
const INITIAL_CAPACITY = 64;

function grow32(a: Int32Array<ArrayBuffer>, min: number): Int32Array<ArrayBuffer> {
  if (a.length >= min) return a;
  const b = new Int32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

function growU32(a: Uint32Array<ArrayBuffer>, min: number): Uint32Array<ArrayBuffer> {
  if (a.length >= min) return a;
  const b = new Uint32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

function growU8(a: Uint8Array<ArrayBuffer>, min: number): Uint8Array<ArrayBuffer> {
  if (a.length >= min) return a;
  const b = new Uint8Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

/**
 * "a.b.c.d/32" or a bare "a.b.c.d": the IPv4 address as a number, else -1 (anything else goes
 * through parsePrefix). The common case of a VIP, parsed without building a Prefix.
 */
function hostRouteV4(text: string): number {
  const n = text.length;
  if (n < 7 || n > 18) return -1;
  let end = n;
  if (text.charCodeAt(n - 3) === 47 && text.charCodeAt(n - 2) === 51 && text.charCodeAt(n - 1) === 50) end = n - 3; // "/32"
  // Four decimal octets 0..255 without leading zeros; anything else (including errors, which
  // parsePrefix names) takes the general path.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= end; i++) {
    const ch = i === end ? 46 : text.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || octet > 255) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      if ((digits === 1 && octet === 0) || digits === 3) return -1;
      octet = octet * 10 + (ch - 48);
      digits++;
    } else return -1;
  }
  return dots === 4 ? value : -1;
}

/**
 * Route slots (structure of arrays). A slot is FREE, or holds one prefix: family, IPv4 address
 * and length (or the IPv6 Prefix), wanted class (or NOT_DESIRED), class the peer has (or
 * NOT_SENT), dirty flag. Module-private, so the loop functions below can read it directly.
 */
class Table {
  capacity = INITIAL_CAPACITY;
  slots = 0;
  fam = new Uint8Array(INITIAL_CAPACITY);
  addr = new Uint32Array(INITIAL_CAPACITY);
  len = new Uint8Array(INITIAL_CAPACITY);
  cls = new Int32Array(INITIAL_CAPACITY);
  sent = new Int32Array(INITIAL_CAPACITY);
  dirty = new Uint8Array(INITIAL_CAPACITY);
  readonly v6: Array<Prefix | undefined> = [];
  freeSlots = new Int32Array(INITIAL_CAPACITY);
  freeCount = 0;
  /** IPv4 slot by prefix length, then by address as a signed 32-bit number (a small integer in V8). */
  readonly byV4: Array<Map<number, number> | undefined> = new Array<Map<number, number> | undefined>(33).fill(undefined);
  readonly byV6 = new Map<string, number>();
  dirtyList = new Int32Array(INITIAL_CAPACITY);
  dirtyCount = 0;
  readonly desired = [0, 0];
}

/** Scratch space of drain(), reused across calls; the counts describe the current drain. */
class DrainScratch {
  groupOf = new Int32Array(0);
  gKey = new Int32Array(16);
  gCount = new Int32Array(16);
  gStart = new Int32Array(16);
  gNot32 = new Uint8Array(16);
  groups = 0;
  /** Announcements in dirty order: slot family data and group. */
  announced = 0;
  stAddr = new Uint32Array(0);
  stLen = new Uint8Array(0);
  readonly stV6: Prefix[] = [];
  stGroup = new Int32Array(0);
  /** The same, laid out contiguously per group (only used with more than one group). */
  outAddr = new Uint32Array(0);
  outLen = new Uint8Array(0);
  readonly outV6: Prefix[] = [];
  wd4 = 0;
  wd4Not32 = false;
  wdAddr = new Uint32Array(0);
  wdLen = new Uint8Array(0);
  readonly wdV6: Prefix[] = [];
}

// The loops over every changed route live in small functions of their own: V8 optimizes a hot
// loop on the fly (OSR), and a function holding several big loops gets recompiled (and
// deoptimized) once per loop, which costs more than the loops themselves on a cold first flush.

/** Mark every live slot (of family `only`, unless -1) as not sent and dirty. */
function markAllUnsent(t: Table, only: number): void {
  const fam = t.fam;
  const cls = t.cls;
  const sent = t.sent;
  const dirty = t.dirty;
  const list = (t.dirtyList = grow32(t.dirtyList, t.dirtyCount + t.slots));
  const slots = t.slots;
  let n = t.dirtyCount;
  for (let s = 0; s < slots; s++) {
    if (cls[s] === FREE || (only >= 0 && fam[s] !== only)) continue;
    sent[s] = NOT_SENT;
    if (dirty[s] === 0) {
      dirty[s] = 1;
      list[n++] = s;
    }
  }
  t.dirtyCount = n;
}

/**
 * Pass 1 of drain: decide each changed route of the taken families (announce into the staging
 * arrays with its group, withdraw, or nothing); keep the others dirty.
 */
function classify(t: Table, d: DrainScratch, take4: boolean, take6: boolean): void {
  const n = t.dirtyCount;
  const list = t.dirtyList;
  const fam = t.fam;
  const cls = t.cls;
  const sent = t.sent;
  const dirty = t.dirty;
  const addr = t.addr;
  const len = t.len;
  const groupOf = d.groupOf;
  const gCount = d.gCount;
  const stAddr = d.stAddr;
  const stLen = d.stLen;
  const stGroup = d.stGroup;
  let announced = 0;
  let keep = 0;
  for (let i = 0; i < n; i++) {
    const s = list[i];
    const f = fam[s];
    if (f === V6 ? !take6 : !take4) {
      list[keep++] = s;
      continue;
    }
    dirty[s] = 0;
    const c = cls[s];
    if (c < 0) {
      withdrawSlot(t, d, s);
      continue;
    }
    if (sent[s] === c) continue;
    sent[s] = c;
    const gk = c * 2 + f;
    let g = groupOf[gk];
    if (g < 0) g = newGroup(d, gk);
    if (f === V4) {
      const l = len[s];
      stAddr[announced] = addr[s];
      stLen[announced] = l;
      if (l !== 32) d.gNot32[g] = 1;
    } else d.stV6[announced] = t.v6[s] as Prefix;
    stGroup[announced] = g;
    gCount[g]++;
    announced++;
  }
  t.dirtyCount = keep;
  d.announced = announced;
}

function newGroup(d: DrainScratch, gk: number): number {
  const g = d.groups++;
  if (d.gKey.length <= g) {
    d.gKey = grow32(d.gKey, g + 1);
    d.gCount = grow32(d.gCount, g + 1);
    d.gStart = grow32(d.gStart, g + 1);
    d.gNot32 = growU8(d.gNot32, g + 1);
  }
  d.groupOf[gk] = g;
  d.gKey[g] = gk;
  d.gCount[g] = 0;
  d.gNot32[g] = 0;
  return g;
}

/** A withdrawn route: tell the peer only if it has it; then forget it. */
function withdrawSlot(t: Table, d: DrainScratch, s: number): void {
  if (t.sent[s] !== NOT_SENT) {
    if (t.fam[s] === V4) {
      const i = d.wd4++;
      d.wdAddr = growU32(d.wdAddr, i + 1);
      d.wdLen = growU8(d.wdLen, i + 1);
      d.wdAddr[i] = t.addr[s];
      d.wdLen[i] = t.len[s];
      if (t.len[s] !== 32) d.wd4Not32 = true;
    } else d.wdV6.push(t.v6[s] as Prefix);
  }
  if (t.fam[s] === V4) t.byV4[t.len[s]]?.delete(t.addr[s] | 0);
  else {
    t.byV6.delete((t.v6[s] as Prefix).toString());
    t.v6[s] = undefined;
  }
  t.cls[s] = FREE;
  t.freeSlots = grow32(t.freeSlots, t.freeCount + 1);
  t.freeSlots[t.freeCount++] = s;
}

/** Pass 2 of drain (more than one group): lay the staged announcements out per group, order kept. */
function layOut(d: DrainScratch): void {
  const groups = d.groups;
  const announced = d.announced;
  const gStart = d.gStart;
  const fill = d.gCount; // becomes each group's end
  let at = 0;
  for (let g = 0; g < groups; g++) {
    const count = fill[g];
    gStart[g] = at;
    fill[g] = at;
    at += count;
  }
  const outAddr = (d.outAddr = growU32(d.outAddr, announced));
  const outLen = (d.outLen = growU8(d.outLen, announced));
  const stAddr = d.stAddr;
  const stLen = d.stLen;
  const stGroup = d.stGroup;
  const stV6 = d.stV6;
  const outV6 = d.outV6;
  for (let i = 0; i < announced; i++) {
    const pos = fill[stGroup[i]]++;
    outAddr[pos] = stAddr[i];
    outLen[pos] = stLen[i];
    const p = stV6[i];
    if (p !== undefined) outV6[pos] = p;
  }
}

export class AdjRibOut {
  private readonly t = new Table();
  private readonly d = new DrainScratch();
  /** Class key text -> small id, so per-route work compares numbers, not long strings. */
  private readonly classIds = new Map<string, number>();
  private readonly classKeys: string[] = [];
  /** The attributes of each class (the first object seen with that key; equal keys mean equal content). */
  private readonly classAttrs: RouteAttributes[] = [];
  /** Callers usually pass one attributes object for many prefixes: key it once. */
  private readonly idOfAttrs = new WeakMap<RouteAttributes, number>();

  /** Number of desired routes. */
  get size(): number {
    return this.t.desired[V4] + this.t.desired[V6];
  }

  /** Number of changes not yet taken. */
  get pending(): number {
    return this.t.dirtyCount;
  }

  /**
   * Desire prefix with attrs. Attributes objects are treated as immutable once passed in: to
   * change a route's attributes, pass a new object.
   */
  set(prefix: Prefix | string, attrs: RouteAttributes = NO_ATTRIBUTES): void {
    const classId = this.classIdOf(attrs);
    let slot: number;
    if (typeof prefix === 'string') {
      const a = hostRouteV4(prefix);
      slot = a >= 0 ? this.slotV4(a, 32, true) : this.slotOf(parsePrefix(prefix), true);
    } else slot = this.slotOf(prefix, true);
    const t = this.t;
    const c = t.cls[slot];
    if (c === classId) return;
    if (c === NOT_DESIRED) t.desired[t.fam[slot]]++;
    t.cls[slot] = classId;
    this.markDirty(slot);
  }

  /** Stop desiring prefix. Returns true when it was desired. */
  delete(prefix: Prefix | string): boolean {
    const slot = this.find(prefix);
    const t = this.t;
    if (slot < 0 || t.cls[slot] === NOT_DESIRED) return false;
    t.cls[slot] = NOT_DESIRED;
    t.desired[t.fam[slot]]--;
    this.markDirty(slot);
    return true;
  }

  has(prefix: Prefix | string): boolean {
    const slot = this.find(prefix);
    return slot >= 0 && this.t.cls[slot] !== NOT_DESIRED;
  }

  /** The desired routes (for status and tests). */
  entries(): Array<{ prefix: Prefix; attrs: RouteAttributes }> {
    const t = this.t;
    const out: Array<{ prefix: Prefix; attrs: RouteAttributes }> = [];
    for (let s = 0; s < t.slots; s++) {
      const c = t.cls[s];
      if (c >= 0) out.push({ prefix: t.fam[s] === V6 ? (t.v6[s] as Prefix) : Prefix.v4(t.addr[s], t.len[s]), attrs: this.classAttrs[c] });
    }
    return out;
  }

  /** Desired routes of a family. */
  count(family: AddressFamily): number {
    return this.t.desired[family === 'ipv6' ? V6 : V4];
  }

  /**
   * The peer has nothing from us (new connection): every desired route is to be sent again.
   * With a family, only that family (ROUTE-REFRESH).
   */
  resend(family?: AddressFamily): void {
    markAllUnsent(this.t, family === undefined ? -1 : family === 'ipv6' ? V6 : V4);
  }

  /**
   * Everything changed since the last call, as announcements grouped by attributes and
   * withdrawals per family, and marks it as sent. Routes of families not in `families` stay
   * pending until a session negotiates them. (drain() is the allocation-free form.)
   */
  takeDelta(families: readonly AddressFamily[] = ['ipv4', 'ipv6']): RibDelta {
    const delta: RibDelta = { announce: [], withdraw: { ipv4: [], ipv6: [] } };
    const v4 = (addresses: Uint32Array, lengths: Uint8Array | undefined, start: number, end: number): Prefix[] => {
      const out: Prefix[] = [];
      for (let i = start; i < end; i++) out.push(Prefix.v4(addresses[i], lengths === undefined ? 32 : lengths[i]));
      return out;
    };
    this.drain(families, {
      withdrawV4: (addresses, lengths, start, end) => delta.withdraw.ipv4.push(...v4(addresses, lengths, start, end)),
      withdrawV6: (prefixes, start, end) => delta.withdraw.ipv6.push(...prefixes.slice(start, end)),
      announceV4: (classKey, attrs, addresses, lengths, start, end) => delta.announce.push({ family: 'ipv4', classKey, attrs, prefixes: v4(addresses, lengths, start, end) }),
      announceV6: (classKey, attrs, prefixes, start, end) => delta.announce.push({ family: 'ipv6', classKey, attrs, prefixes: prefixes.slice(start, end) }),
    });
    return delta;
  }

  /**
   * takeDelta without building objects: marks everything changed since the last call (in
   * `families`) as sent and hands it to sink from reused arrays, withdrawals first (in the order
   * of `families`), then announcement groups in the order their first route changed.
   */
  drain(families: readonly AddressFamily[], sink: RibDeltaSink): void {
    const t = this.t;
    const d = this.d;
    const n = t.dirtyCount;
    const classes2 = 2 * this.classKeys.length;
    d.groupOf = grow32(d.groupOf, classes2);
    d.groupOf.fill(-1, 0, classes2);
    d.groups = 0;
    d.announced = 0;
    d.wd4 = 0;
    d.wd4Not32 = false;
    d.stAddr = growU32(d.stAddr, n);
    d.stLen = growU8(d.stLen, n);
    d.stGroup = grow32(d.stGroup, n);
    classify(t, d, families.includes('ipv4'), families.includes('ipv6'));
    for (const family of families) {
      if (family === 'ipv4' && d.wd4 > 0) sink.withdrawV4(d.wdAddr, d.wd4Not32 ? d.wdLen : undefined, 0, d.wd4);
      if (family === 'ipv6' && d.wdV6.length > 0) sink.withdrawV6(d.wdV6, 0, d.wdV6.length);
    }
    // One group (the usual case): the staging arrays are already the layout.
    const single = d.groups === 1;
    if (!single) layOut(d);
    const addresses = single ? d.stAddr : d.outAddr;
    const lengths = single ? d.stLen : d.outLen;
    const v6 = single ? d.stV6 : d.outV6;
    for (let g = 0; g < d.groups; g++) {
      const gk = d.gKey[g];
      const c = gk >> 1;
      const start = single ? 0 : d.gStart[g];
      const end = single ? d.announced : d.gCount[g];
      if ((gk & 1) === V4) sink.announceV4(this.classKeys[c], this.classAttrs[c], addresses, d.gNot32[g] ? lengths : undefined, start, end);
      else sink.announceV6(this.classKeys[c], this.classAttrs[c], v6, start, end);
    }
    // Keep no IPv6 prefixes alive through the scratch arrays.
    d.stV6.length = 0;
    d.outV6.length = 0;
    d.wdV6.length = 0;
  }

  // ------------------------------------------------------------ slots

  /** Slot of prefix, or -1. */
  private find(prefix: Prefix | string): number {
    if (typeof prefix === 'string') {
      const a = hostRouteV4(prefix);
      return a >= 0 ? this.slotV4(a, 32, false) : this.slotOf(parsePrefix(prefix), false);
    }
    return this.slotOf(prefix, false);
  }

  private slotOf(p: Prefix, create: boolean): number {
    if (p.family === 'ipv4') return this.slotV4(p.v4, p.length, create);
    const t = this.t;
    const key = p.toString();
    let s = t.byV6.get(key);
    if (s !== undefined) return s;
    if (!create) return -1;
    s = this.allocate(V6, 0, p.length);
    t.v6[s] = p;
    t.byV6.set(key, s);
    return s;
  }

  private slotV4(address: number, length: number, create: boolean): number {
    const t = this.t;
    let m = t.byV4[length];
    const key = address | 0;
    if (m !== undefined) {
      const s = m.get(key);
      if (s !== undefined) return s;
    }
    if (!create) return -1;
    if (m === undefined) {
      m = new Map();
      t.byV4[length] = m;
    }
    const s = this.allocate(V4, address, length);
    m.set(key, s);
    return s;
  }

  /** A new slot for a route not desired yet (the caller sets its class). */
  private allocate(family: number, address: number, length: number): number {
    const t = this.t;
    let s: number;
    if (t.freeCount > 0) s = t.freeSlots[--t.freeCount];
    else {
      if (t.slots === t.capacity) this.growSlots();
      s = t.slots++;
    }
    t.fam[s] = family;
    t.addr[s] = address;
    t.len[s] = length;
    t.cls[s] = NOT_DESIRED;
    t.sent[s] = NOT_SENT;
    t.dirty[s] = 0;
    return s;
  }

  private growSlots(): void {
    const t = this.t;
    const cap = t.capacity * 2;
    t.fam = growU8(t.fam, cap);
    t.addr = growU32(t.addr, cap);
    t.len = growU8(t.len, cap);
    t.cls = grow32(t.cls, cap);
    t.sent = grow32(t.sent, cap);
    t.dirty = growU8(t.dirty, cap);
    t.capacity = cap;
  }

  private markDirty(s: number): void {
    const t = this.t;
    if (t.dirty[s] !== 0) return;
    t.dirty[s] = 1;
    if (t.dirtyCount === t.dirtyList.length) t.dirtyList = grow32(t.dirtyList, t.dirtyCount + 1);
    t.dirtyList[t.dirtyCount++] = s;
  }

  private classIdOf(attrs: RouteAttributes): number {
    const known = this.idOfAttrs.get(attrs);
    if (known !== undefined) return known;
    const text = attributesKey(attrs);
    let id = this.classIds.get(text);
    if (id === undefined) {
      id = this.classKeys.length;
      this.classKeys.push(text);
      this.classAttrs.push(attrs);
      this.classIds.set(text, id);
    }
    this.idOfAttrs.set(attrs, id);
    return id;
  }
}
