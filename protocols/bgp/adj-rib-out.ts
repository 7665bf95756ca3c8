// Adj-RIB-Out of one session: the desired routes (prefix -> attributes) and what the peer has
// been sent, so changes go out as deltas grouped by identical attributes. Built for 100k+ routes:
// one hash lookup per change, none per route when flushing.
import { parsePrefix, type AddressFamily, type Prefix } from './prefix.js';
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

const NOT_DESIRED = -1;
const NOT_SENT = -1;

interface Entry {
  readonly key: number | string;
  readonly prefix: Prefix;
  attrs: RouteAttributes;
  /** Interned attributes class wanted now, or NOT_DESIRED (withdrawn, not yet sent). */
  classId: number;
  /** Class the peer has from us, or NOT_SENT. */
  sent: number;
  dirty: boolean;
}

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

/** Canonical text of attributes (equal text = same advertisement class). */
export function attributesKey(a: RouteAttributes): string {
  return JSON.stringify([a.nextHop ?? null, a.nextHopLinkLocal ?? null, a.localPref ?? null, a.med ?? null, a.communities ?? [], (a.largeCommunities ?? []).map((l) => [l.globalAdmin, l.localData1, l.localData2])]);
}

/** Map key of a prefix: a number for IPv4 (address * 64 + length, exact in a double), text for IPv6. */
function keyOf(p: Prefix): number | string {
  return p.family === 'ipv4' ? p.v4 * 64 + p.length : p.toString();
}

export class AdjRibOut {
  private readonly routes = new Map<number | string, Entry>();
  private dirtyList: Entry[] = [];
  private desiredCount = 0;
  /** Class key text -> small id, so per-route work compares numbers, not long strings. */
  private readonly classIds = new Map<string, number>();
  private readonly classKeys: string[] = [];
  /** Callers usually pass one attributes object for many prefixes: key it once. */
  private readonly idOfAttrs = new WeakMap<RouteAttributes, number>();

  /** Number of desired routes. */
  get size(): number {
    return this.desiredCount;
  }

  /** Number of changes not yet taken. */
  get pending(): number {
    return this.dirtyList.length;
  }

  /**
   * Desire prefix with attrs. Attributes objects are treated as immutable once passed in: to
   * change a route's attributes, pass a new object.
   */
  set(prefix: Prefix | string, attrs: RouteAttributes = NO_ATTRIBUTES): void {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    const key = keyOf(p);
    const classId = this.classIdOf(attrs);
    let e = this.routes.get(key);
    if (e === undefined) {
      e = { key, prefix: p, attrs, classId, sent: NOT_SENT, dirty: false };
      this.routes.set(key, e);
      this.desiredCount++;
    } else {
      if (e.classId === classId) return;
      if (e.classId === NOT_DESIRED) this.desiredCount++;
      e.classId = classId;
      e.attrs = attrs;
    }
    this.markDirty(e);
  }

  /** Stop desiring prefix. Returns true when it was desired. */
  delete(prefix: Prefix | string): boolean {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    const e = this.routes.get(keyOf(p));
    if (e === undefined || e.classId === NOT_DESIRED) return false;
    e.classId = NOT_DESIRED;
    this.desiredCount--;
    this.markDirty(e);
    return true;
  }

  has(prefix: Prefix | string): boolean {
    const e = this.routes.get(keyOf(typeof prefix === 'string' ? parsePrefix(prefix) : prefix));
    return e !== undefined && e.classId !== NOT_DESIRED;
  }

  /** The desired routes (for status and tests). */
  entries(): Array<{ prefix: Prefix; attrs: RouteAttributes }> {
    const out: Array<{ prefix: Prefix; attrs: RouteAttributes }> = [];
    for (const e of this.routes.values()) if (e.classId !== NOT_DESIRED) out.push({ prefix: e.prefix, attrs: e.attrs });
    return out;
  }

  /** Desired routes of a family. */
  count(family: AddressFamily): number {
    let n = 0;
    for (const e of this.routes.values()) if (e.classId !== NOT_DESIRED && e.prefix.family === family) n++;
    return n;
  }

  /**
   * The peer has nothing from us (new connection): every desired route is to be sent again.
   * With a family, only that family (ROUTE-REFRESH).
   */
  resend(family?: AddressFamily): void {
    for (const e of this.routes.values()) {
      if (family !== undefined && e.prefix.family !== family) continue;
      e.sent = NOT_SENT;
      this.markDirty(e);
    }
  }

  /**
   * Everything changed since the last call, as announcements grouped by attributes and
   * withdrawals per family, and marks it as sent. Routes of families not in `families` stay
   * pending until a session negotiates them.
   */
  takeDelta(families: readonly AddressFamily[] = ['ipv4', 'ipv6']): RibDelta {
    const v4 = families.includes('ipv4');
    const v6 = families.includes('ipv6');
    const groups = new Map<number, AnnounceGroup>();
    const withdraw: Record<AddressFamily, Prefix[]> = { ipv4: [], ipv6: [] };
    const keep: Entry[] = [];
    for (const e of this.dirtyList) {
      const isV6 = e.prefix.family === 'ipv6';
      if (isV6 ? !v6 : !v4) {
        keep.push(e);
        continue;
      }
      e.dirty = false;
      if (e.classId !== NOT_DESIRED) {
        if (e.sent === e.classId) continue;
        const gk = e.classId * 2 + (isV6 ? 1 : 0);
        let g = groups.get(gk);
        if (g === undefined) {
          g = { family: e.prefix.family, classKey: this.classKeys[e.classId], attrs: e.attrs, prefixes: [] };
          groups.set(gk, g);
        }
        g.prefixes.push(e.prefix);
        e.sent = e.classId;
      } else {
        // Withdrawn: tell the peer only if it has the route; then forget it.
        if (e.sent !== NOT_SENT) withdraw[e.prefix.family].push(e.prefix);
        this.routes.delete(e.key);
      }
    }
    this.dirtyList = keep;
    return { announce: [...groups.values()], withdraw };
  }

  private markDirty(e: Entry): void {
    if (e.dirty) return;
    e.dirty = true;
    this.dirtyList.push(e);
  }

  private classIdOf(attrs: RouteAttributes): number {
    const known = this.idOfAttrs.get(attrs);
    if (known !== undefined) return known;
    const text = attributesKey(attrs);
    let id = this.classIds.get(text);
    if (id === undefined) {
      id = this.classKeys.length;
      this.classKeys.push(text);
      this.classIds.set(text, id);
    }
    this.idOfAttrs.set(attrs, id);
    return id;
  }
}
