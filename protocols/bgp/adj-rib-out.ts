// Adj-RIB-Out of one session: the desired routes (prefix -> attributes) and what the peer has
// been sent, so changes go out as deltas grouped by identical attributes.
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

interface Entry {
  prefix: Prefix;
  attrs: RouteAttributes;
  /** Canonical text of attrs: routes with the same key share one UPDATE class. */
  classKey: string;
}

/** A group of prefixes with identical attributes, to announce together. */
export interface AnnounceGroup {
  family: AddressFamily;
  classKey: string;
  attrs: RouteAttributes;
  prefixes: Prefix[];
}

export interface RibDelta {
  announce: AnnounceGroup[];
  withdraw: Record<AddressFamily, Prefix[]>;
}

export function attributesKey(a: RouteAttributes): string {
  return JSON.stringify([a.nextHop ?? null, a.nextHopLinkLocal ?? null, a.localPref ?? null, a.med ?? null, a.communities ?? [], (a.largeCommunities ?? []).map((l) => [l.globalAdmin, l.localData1, l.localData2])]);
}

export class AdjRibOut {
  private readonly desired = new Map<string, Entry>();
  /** prefix key -> class key the peer currently has from us. */
  private readonly advertised = new Map<string, string>();
  /** Keys changed since the last takeDelta(). */
  private readonly dirty = new Set<string>();
  /** Prefixes of withdrawn keys, kept until the withdrawal is taken. */
  private readonly withdrawnPrefix = new Map<string, Prefix>();

  get size(): number {
    return this.desired.size;
  }

  get pending(): number {
    return this.dirty.size;
  }

  /** Desire prefix with attrs. Returns the canonical key. */
  set(prefix: Prefix | string, attrs: RouteAttributes = {}): string {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    const key = p.toString();
    const classKey = attributesKey(attrs);
    const old = this.desired.get(key);
    if (old && old.classKey === classKey) return key;
    this.desired.set(key, { prefix: p, attrs, classKey });
    this.dirty.add(key);
    return key;
  }

  /** Stop desiring prefix. Returns true when it was desired. */
  delete(prefix: Prefix | string): boolean {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    const key = p.toString();
    const old = this.desired.get(key);
    if (!old) return false;
    this.desired.delete(key);
    this.withdrawnPrefix.set(key, old.prefix);
    this.dirty.add(key);
    return true;
  }

  has(prefix: Prefix | string): boolean {
    return this.desired.has(typeof prefix === 'string' ? parsePrefix(prefix).toString() : prefix.toString());
  }

  /** The desired routes (for status and tests). */
  entries(): Array<{ prefix: Prefix; attrs: RouteAttributes }> {
    return [...this.desired.values()].map((e) => ({ prefix: e.prefix, attrs: e.attrs }));
  }

  /**
   * The peer has nothing from us (new connection): mark every desired route to be sent.
   * With a family, only that family (ROUTE-REFRESH).
   */
  resend(family?: AddressFamily): void {
    for (const [key, e] of this.desired) {
      if (family !== undefined && e.prefix.family !== family) continue;
      this.advertised.delete(key);
      this.dirty.add(key);
    }
    if (family === undefined) {
      this.advertised.clear();
      // Withdrawals for a peer that never got the route are pointless.
      for (const key of [...this.dirty]) if (!this.desired.has(key)) this.dirty.delete(key);
      this.withdrawnPrefix.clear();
    }
  }

  /**
   * Everything changed since the last call, as announcements grouped by attributes and
   * withdrawals per family; marks it as advertised. `families` limits what is taken (routes
   * of other families stay pending until a session negotiates them).
   */
  takeDelta(families: readonly AddressFamily[] = ['ipv4', 'ipv6']): RibDelta {
    const groups = new Map<string, AnnounceGroup>();
    const withdraw: Record<AddressFamily, Prefix[]> = { ipv4: [], ipv6: [] };
    for (const key of this.dirty) {
      const e = this.desired.get(key);
      if (e) {
        if (!families.includes(e.prefix.family)) continue;
        if (this.advertised.get(key) === e.classKey) {
          this.dirty.delete(key);
          continue;
        }
        const gk = `${e.prefix.family}|${e.classKey}`;
        let g = groups.get(gk);
        if (!g) {
          g = { family: e.prefix.family, classKey: e.classKey, attrs: e.attrs, prefixes: [] };
          groups.set(gk, g);
        }
        g.prefixes.push(e.prefix);
        this.advertised.set(key, e.classKey);
      } else {
        const p = this.withdrawnPrefix.get(key);
        if (p && !families.includes(p.family)) continue;
        if (p && this.advertised.has(key)) withdraw[p.family].push(p);
        this.advertised.delete(key);
        this.withdrawnPrefix.delete(key);
      }
      this.dirty.delete(key);
    }
    return { announce: [...groups.values()], withdraw };
  }
}
