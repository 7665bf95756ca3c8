// RFC 8950 Extended Next Hop: negotiation, IPv4 unicast in MP_REACH_NLRI (AFI 1) with a 16- or
// 32-octet IPv6 next hop, MP_UNREACH_NLRI withdrawals, and what an unnumbered session sends.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileAttributes,
  decode,
  localOpen,
  negotiate,
  Prefix,
  toBuffer,
  UpdateEncoder,
  type CodecContext,
  type PathAttributes,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';
import { prefixV4 } from './arbitraries.js';
import { fakeSession, routerOpen } from './fake-socket.js';

const ctx: CodecContext = { fourByteAs: true, maxMessageLength: 4096 };
const LL = 'fe80::1';
const GLOBAL = '2001:db8::1';
const base: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }] };
const viaV6 = (nextHop: string, nextHopLinkLocal?: string): PathAttributes => ({
  ...base,
  mpReach: { afi: 1, safi: 1, nextHop, ...(nextHopLinkLocal === undefined ? {} : { nextHopLinkLocal }), nlri: [] },
});
const enhCap = { kind: 'extended-next-hop' as const, families: [{ afi: 1, safi: 1, nextHopAfi: 2 }] };

function decodeAll(buf: Buffer, c: CodecContext = ctx): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  for (let o = 0; o < buf.length; o += buf.readUInt16BE(o + 16)) {
    expect(buf.readUInt16BE(o + 16)).toBeLessThanOrEqual(c.maxMessageLength);
    out.push(decode(buf, o, c) as UpdateMessage);
  }
  return out;
}

describe('Extended Next Hop negotiation (capability 5)', () => {
  it('is offered only when configured, as the tuple IPv4/unicast/IPv6', () => {
    expect(localOpen({ localAs: 64512, holdTime: 90, routerId: 1, extendedNextHop: true }).capabilities).toContainEqual(enhCap);
    expect(localOpen({ localAs: 64512, holdTime: 90, routerId: 1 }).capabilities.some((c) => c.kind === 'extended-next-hop')).toBe(false);
  });

  it('is negotiated only when both OPENs carry IPv4 unicast via IPv6', () => {
    const check = (ours: boolean, theirs: PathAttributes['other'] | 'ok' | 'other-tuple' | 'none'): boolean =>
      negotiate(
        routerOpen({
          extra: theirs === 'ok' ? [enhCap] : theirs === 'other-tuple' ? [{ kind: 'extended-next-hop', families: [{ afi: 1, safi: 128, nextHopAfi: 2 }] }] : [],
        }),
        { localAs: 64512, peerAs: 65001, localRouterId: 1, holdTime: 90, ours: localOpen({ localAs: 64512, holdTime: 90, routerId: 1, extendedNextHop: ours }) },
      ).extendedNextHop;
    expect([check(true, 'ok'), check(true, 'other-tuple'), check(true, 'none'), check(false, 'ok')]).toEqual([true, false, false, false]);
  });
});

describe('IPv4 routes with an IPv6 next hop (MP_REACH_NLRI AFI 1)', () => {
  it('writes a hand-computed UPDATE with a 16-octet link-local next hop', () => {
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(4096);
    const n = enc.encodeAnnounceV4(compileAttributes(viaV6(LL), 'ipv4', ctx), Uint32Array.of(0xcb00710a), undefined, 0, 1, buf, 0);
    // ORIGIN 40010100 | AS_PATH 40020602010000fde9 | MP_REACH (extended length, as the packed encoder always writes it)
    // 900e 001a: 0001 01 10 <fe80::1> 00 20 cb00710a (4+16+1+5 = 26); attributes 4+9+4+26 = 43, message 23+43 = 66
    const expected = 'ff'.repeat(16) + '0042' + '02' + '0000' + '002b' + '40010100' + '40020602010000fde9' + '900e001a' + '000101' + '10' + 'fe800000000000000000000000000001' + '00' + '20cb00710a';
    expect(buf.subarray(0, n).toString('hex')).toBe(expected);
    const [m] = decodeAll(buf.subarray(0, n));
    expect(m.nlri).toEqual([]);
    expect(m.attributes.nextHop).toBeUndefined();
    expect(m.attributes.mpReach).toEqual({ afi: 1, safi: 1, nextHop: LL, nlri: [Prefix.v4(0xcb00710a, 32)] });
  });

  it('32-octet next hop (global + link-local) round-trips through the decoder, Prefix and typed-array paths alike', () => {
    const compiled = compileAttributes(viaV6(GLOBAL, LL), 'ipv4', ctx);
    const prefixes = [Prefix.v4(0xcb00710a, 32), Prefix.v4(0xc6336400, 24)];
    const a = Buffer.alloc(4096);
    const b = Buffer.alloc(4096);
    const enc = new UpdateEncoder();
    const na = enc.encodeAnnounce(compiled, prefixes, 0, 2, a, 0);
    const nb = enc.encodeAnnounceV4(compiled, Uint32Array.from(prefixes, (p) => p.v4), Uint8Array.from(prefixes, (p) => p.length), 0, 2, b, 0);
    expect(a.subarray(0, na).toString('hex')).toBe(b.subarray(0, nb).toString('hex'));
    const [m] = decodeAll(a.subarray(0, na));
    expect(m.attributes.mpReach).toEqual({ afi: 1, safi: 1, nextHop: GLOBAL, nextHopLinkLocal: LL, nlri: prefixes });
    // The general encoder (short attribute length where it fits) says the same thing.
    const general = toBuffer({ type: 'update', withdrawn: [], attributes: { ...viaV6(GLOBAL, LL), mpReach: { afi: 1, safi: 1, nextHop: GLOBAL, nextHopLinkLocal: LL, nlri: prefixes } }, nlri: [] });
    expect(decodeAll(general)[0]).toEqual(m);
  });

  it('refuses an IPv4 next hop in mpReach for IPv4 (that is NEXT_HOP)', () => {
    expect(() => compileAttributes(viaV6('192.0.2.1'), 'ipv4', ctx)).toThrow(/IPv6 next hop/);
  });

  it('withdraws IPv4 in MP_UNREACH_NLRI AFI 1 when asked, in the Withdrawn Routes field otherwise', () => {
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(4096);
    const p = [Prefix.v4(0xcb00710a, 32)];
    const n = enc.encodeWithdraw('ipv4', p, 0, 1, buf, 0, true);
    expect(buf.subarray(0, n).toString('hex')).toBe('ff'.repeat(16) + '0023' + '02' + '0000' + '000c' + '900f0008' + '000101' + '20cb00710a');
    expect(decodeAll(buf.subarray(0, n))[0]).toMatchObject({ withdrawn: [], attributes: { mpUnreach: { afi: 1, safi: 1, withdrawn: p } } });
    const m = enc.encodeWithdraw('ipv4', p, 0, 1, buf, 0);
    expect(decodeAll(buf.subarray(0, m))[0]).toMatchObject({ withdrawn: p, attributes: {} });
  });

  it('property: any IPv4 prefixes, next hop form and message size round-trip, every message within the limit', () => {
    fc.assert(
      fc.property(
        fc.array(prefixV4, { minLength: 1, maxLength: 3000 }),
        fc.constantFrom([LL], [GLOBAL], [GLOBAL, LL]),
        fc.constantFrom(4096, 65535),
        fc.boolean(),
        (prefixes, nh, max, typed) => {
          const c: CodecContext = { fourByteAs: true, maxMessageLength: max };
          const compiled = compileAttributes(viaV6(nh[0], nh[1]), 'ipv4', c);
          const enc = new UpdateEncoder(max);
          const buf = Buffer.alloc(1 << 18);
          let o = 0;
          let i = 0;
          while (i < prefixes.length) {
            o += typed
              ? enc.encodeAnnounceV4(compiled, Uint32Array.from(prefixes, (p) => p.v4), Uint8Array.from(prefixes, (p) => p.length), i, prefixes.length, buf, o)
              : enc.encodeAnnounce(compiled, prefixes, i, prefixes.length, buf, o);
            i = enc.next;
          }
          const got = decodeAll(buf.subarray(0, o), c).flatMap((m) => {
            expect(m.attributes.mpReach?.nextHop).toBe(nh[0]);
            expect(m.attributes.mpReach?.nextHopLinkLocal).toBe(nh[1]);
            return m.attributes.mpReach?.nlri ?? [];
          });
          expect(got.map(String)).toEqual(prefixes.map(String));
          let w = 0;
          i = 0;
          while (i < prefixes.length) {
            w += enc.encodeWithdraw('ipv4', prefixes, i, prefixes.length, buf, w, true);
            i = enc.next;
          }
          expect(decodeAll(buf.subarray(0, w), c).flatMap((m) => m.attributes.mpUnreach?.withdrawn ?? []).map(String)).toEqual(prefixes.map(String));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('an unnumbered session (over IPv6 link-local)', () => {
  const setup = (routerCaps: boolean, deps: Parameters<typeof fakeSession>[1] = {}) => {
    const { session, sockets, clock } = fakeSession({ peerAddress: 'fe80::2%eth1', extendedNextHop: true }, deps, { local: 'fe80::1%eth1', remote: 'fe80::2%eth1' });
    session.announce('203.0.113.10/32');
    session.start();
    const s = sockets[0];
    s.connect();
    const open = s.take()[0];
    expect(open.type === 'open' && open.capabilities).toContainEqual(enhCap);
    s.receive(routerOpen({ extra: routerCaps ? [enhCap] : [] }));
    s.receive({ type: 'keepalive' });
    expect(session.state).toBe('Established');
    return { session, s, clock };
  };

  it('announces IPv4 /32s with the link-local next hop (16 octets) and withdraws them in MP_UNREACH_NLRI', () => {
    const { session, s, clock } = setup(true);
    const updates = s.take().filter((m): m is UpdateMessage => m.type === 'update');
    expect(updates[0].attributes.mpReach).toEqual({ afi: 1, safi: 1, nextHop: LL, nlri: [Prefix.v4(0xcb00710a, 32)] });
    expect(session.negotiation?.extendedNextHop).toBe(true);
    session.withdraw('203.0.113.10/32');
    clock.advance(10);
    const w = s.take().filter((m): m is UpdateMessage => m.type === 'update');
    expect(w).toHaveLength(1);
    expect(w[0].attributes.mpUnreach).toEqual({ afi: 1, safi: 1, withdrawn: [Prefix.v4(0xcb00710a, 32)] });
  });

  it('adds the global IPv6 address of the link as first next hop (32 octets) when the interface has one', () => {
    const { s } = setup(true, { ipv6NextHop: (local) => (local === LL ? { interface: 'eth1', address: GLOBAL } : {}) });
    const [u] = s.take().filter((m): m is UpdateMessage => m.type === 'update');
    expect(u.attributes.mpReach).toMatchObject({ afi: 1, nextHop: GLOBAL, nextHopLinkLocal: LL });
  });

  it('without the router negotiating it, IPv4 routes stay unannounced and the reason is logged', () => {
    const msgs: string[] = [];
    const { session, s } = setup(false, { log: (e) => msgs.push(e.msg) });
    expect(s.take().filter((m) => m.type === 'update' && (m.nlri.length > 0 || m.attributes.mpReach))).toEqual([]);
    expect(session.negotiation?.extendedNextHop).toBe(false);
    expect(msgs.some((m) => /did not negotiate Extended Next Hop/.test(m))).toBe(true);
  });
});
