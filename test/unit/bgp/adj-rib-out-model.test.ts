// AdjRibOut (typed-array slots, per-length IPv4 maps, drain through scratch arrays) against a
// naive Map model of the same contract: same deltas, in the same order, after any operations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdjRibOut, attributesKey, parsePrefix, PrefixError, type AddressFamily, type Prefix, type RibDeltaSink, type RouteAttributes } from '../../../protocols/bgp/index.js';

interface ModelRoute {
  family: AddressFamily;
  desired: string | null;
  sent: string | null;
  dirty: boolean;
}

/** The contract, written the obvious way. */
class Model {
  readonly routes = new Map<string, ModelRoute>();
  dirty: string[] = [];
  readonly attrsOf = new Map<string, RouteAttributes>();

  private mark(k: string, r: ModelRoute): void {
    if (r.dirty) return;
    r.dirty = true;
    this.dirty.push(k);
  }

  set(p: Prefix, a: RouteAttributes): void {
    const k = p.toString();
    const c = attributesKey(a);
    if (!this.attrsOf.has(c)) this.attrsOf.set(c, a);
    let r = this.routes.get(k);
    if (!r) {
      r = { family: p.family, desired: null, sent: null, dirty: false };
      this.routes.set(k, r);
    }
    if (r.desired === c) return;
    r.desired = c;
    this.mark(k, r);
  }

  delete(p: Prefix): boolean {
    const k = p.toString();
    const r = this.routes.get(k);
    if (!r || r.desired === null) return false;
    r.desired = null;
    this.mark(k, r);
    return true;
  }

  resend(f?: AddressFamily): void {
    for (const [k, r] of this.routes) {
      if (f !== undefined && r.family !== f) continue;
      r.sent = null;
      this.mark(k, r);
    }
  }

  take(families: AddressFamily[]): { announce: Array<[AddressFamily, string, string[]]>; withdraw: Record<AddressFamily, string[]> } {
    const groups = new Map<string, [AddressFamily, string, string[]]>();
    const withdraw: Record<AddressFamily, string[]> = { ipv4: [], ipv6: [] };
    const keep: string[] = [];
    for (const k of this.dirty) {
      const r = this.routes.get(k) as ModelRoute;
      if (!families.includes(r.family)) {
        keep.push(k);
        continue;
      }
      r.dirty = false;
      if (r.desired !== null) {
        if (r.sent === r.desired) continue;
        const gk = `${r.family}|${r.desired}`;
        let g = groups.get(gk);
        if (!g) groups.set(gk, (g = [r.family, r.desired, []]));
        g[2].push(k);
        r.sent = r.desired;
      } else {
        if (r.sent !== null) withdraw[r.family].push(k);
        this.routes.delete(k);
      }
    }
    this.dirty = keep;
    return { announce: [...groups.values()], withdraw };
  }

  size(f?: AddressFamily): number {
    return [...this.routes.values()].filter((r) => r.desired !== null && (f === undefined || r.family === f)).length;
  }
}

// A small pool so operations collide: host routes, shorter IPv4 prefixes (incl. /0 and
// addresses above 2^31), IPv6; given as text (both spellings of a host route) or parsed.
const PREFIX_TEXT = ['198.18.0.1', '198.18.0.1/32', '198.18.0.2/32', '255.255.255.255/32', '128.0.0.0/1', '198.18.0.0/24', '198.18.0.0/23', '0.0.0.0/0', '10.0.0.0/8', '2001:db8::1', '2001:db8::/32', '2001:db8::2/128', '::/0'];
const ATTRS: RouteAttributes[] = [{}, { med: 5 }, { med: 5 }, { localPref: 200, communities: [0xfde80064] }, { nextHop: '192.0.2.9' }];
const FAMILIES: AddressFamily[][] = [['ipv4', 'ipv6'], ['ipv4'], ['ipv6'], ['ipv6', 'ipv4']];

type Op =
  | { op: 'set'; p: number; parsed: boolean; a: number }
  | { op: 'delete'; p: number; parsed: boolean }
  | { op: 'resend'; f: number }
  | { op: 'take'; f: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), p: fc.nat(PREFIX_TEXT.length - 1), parsed: fc.boolean(), a: fc.nat(ATTRS.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), p: fc.nat(PREFIX_TEXT.length - 1), parsed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('resend' as const), f: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('take' as const), f: fc.nat(FAMILIES.length - 1) }) },
);

const asText = (d: ReturnType<AdjRibOut['takeDelta']>): ReturnType<Model['take']> => ({
  announce: d.announce.map((g) => [g.family, g.classKey, g.prefixes.map(String)]),
  withdraw: { ipv4: d.withdraw.ipv4.map(String), ipv6: d.withdraw.ipv6.map(String) },
});

describe('AdjRibOut against a Map model', () => {
  it('gives the same deltas, sizes and membership after any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const rib = new AdjRibOut();
        const model = new Model();
        for (const o of ops) {
          if (o.op === 'set' || o.op === 'delete') {
            const text = PREFIX_TEXT[o.p];
            const arg = o.parsed ? parsePrefix(text) : text;
            if (o.op === 'set') {
              rib.set(arg, ATTRS[o.a]);
              model.set(parsePrefix(text), ATTRS[o.a]);
            } else expect(rib.delete(arg)).toBe(model.delete(parsePrefix(text)));
          } else if (o.op === 'resend') {
            const f = o.f === 2 ? undefined : (['ipv4', 'ipv6'] as const)[o.f];
            rib.resend(f);
            model.resend(f);
          } else {
            const d = rib.takeDelta(FAMILIES[o.f]);
            expect(asText(d)).toEqual(model.take(FAMILIES[o.f]));
            for (const g of d.announce) expect(attributesKey(g.attrs)).toBe(g.classKey);
          }
          expect(rib.size).toBe(model.size());
          expect(rib.count('ipv4')).toBe(model.size('ipv4'));
          expect(rib.count('ipv6')).toBe(model.size('ipv6'));
          expect(rib.pending).toBe(model.dirty.length);
        }
        for (const text of PREFIX_TEXT) expect(rib.has(text)).toBe(model.routes.get(parsePrefix(text).toString())?.desired != null);
        const entries = rib.entries().map((e) => `${e.prefix.toString()} ${attributesKey(e.attrs)}`).sort();
        const expected = [...model.routes].filter(([, r]) => r.desired !== null).map(([k, r]) => `${k} ${r.desired}`).sort();
        expect(entries).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('reuses the slots of withdrawn routes and stays consistent at scale', () => {
    const rib = new AdjRibOut();
    const a = { med: 1 };
    for (let i = 0; i < 5000; i++) rib.set(`198.18.${i >> 8}.${i & 255}`, a);
    expect(rib.takeDelta(['ipv4']).announce[0].prefixes).toHaveLength(5000);
    for (let i = 0; i < 5000; i += 2) rib.delete(`198.18.${i >> 8}.${i & 255}/32`);
    expect(rib.takeDelta().withdraw.ipv4).toHaveLength(2500);
    for (let i = 0; i < 2500; i++) rib.set(`198.19.${i >> 8}.${i & 255}`);
    const d = rib.takeDelta();
    expect(d.announce.map((g) => g.prefixes.length)).toEqual([2500]);
    expect(rib.size).toBe(5000);
    expect(rib.has('198.18.0.1')).toBe(true);
    expect(rib.has('198.18.0.0')).toBe(false);
  });
});

describe('AdjRibOut.drain', () => {
  /** Records the sink calls as text. */
  function record(rib: AdjRibOut, families: AddressFamily[] = ['ipv4', 'ipv6']): string[] {
    const calls: string[] = [];
    const v4 = (addresses: Uint32Array, lengths: Uint8Array | undefined, start: number, end: number): string =>
      Array.from(addresses.subarray(start, end), (x, i) => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}/${lengths === undefined ? 'all32' : lengths[start + i]}`).join(' ');
    const sink: RibDeltaSink = {
      withdrawV4: (addresses, lengths, start, end) => calls.push(`-v4 ${v4(addresses, lengths, start, end)}`),
      withdrawV6: (prefixes, start, end) => calls.push(`-v6 ${prefixes.slice(start, end).join(' ')}`),
      announceV4: (classKey, _attrs, addresses, lengths, start, end) => calls.push(`+v4 ${classKey} ${v4(addresses, lengths, start, end)}`),
      announceV6: (classKey, _attrs, prefixes, start, end) => calls.push(`+v6 ${classKey} ${prefixes.slice(start, end).join(' ')}`),
    };
    rib.drain(families, sink);
    return calls;
  }

  it('hands over host routes without lengths, shorter ones with them, withdrawals first in family order', () => {
    const rib = new AdjRibOut();
    const k0 = attributesKey({});
    const k1 = attributesKey({ med: 1 });
    rib.set('203.0.113.1');
    rib.set('2001:db8::1');
    rib.set('203.0.113.2');
    expect(record(rib)).toEqual([`+v4 ${k0} 203.0.113.1/all32 203.0.113.2/all32`, `+v6 ${k0} 2001:db8::1/128`]);
    rib.set('198.51.100.0/24', { med: 1 });
    rib.set('203.0.113.3', { med: 1 });
    rib.delete('203.0.113.1');
    rib.delete('2001:db8::1');
    expect(record(rib, ['ipv6', 'ipv4'])).toEqual([`-v6 2001:db8::1/128`, `-v4 203.0.113.1/all32`, `+v4 ${k1} 198.51.100.0/24 203.0.113.3/32`]);
    expect(record(rib)).toEqual([]);
  });

  it('rejects bad prefix text with the same typed error as parsePrefix', () => {
    const rib = new AdjRibOut();
    for (const bad of ['01.2.3.4', '1.2.3.256/32', '1.2.3', '1.2.3.4/33', '1.2.3.4/24', '1.2.3.4.5', '1..2.3']) {
      expect(() => rib.set(bad)).toThrow(PrefixError);
      expect(() => rib.set(bad)).toThrow(((): string => {
        try {
          parsePrefix(bad);
        } catch (e) {
          return (e as Error).message;
        }
        return 'parsePrefix accepted it';
      })());
    }
    expect(rib.size).toBe(0);
  });
});
