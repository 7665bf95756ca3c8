// fast-check generators for BGP messages, shared by the codec property tests.
import fc from 'fast-check';
import {
  Prefix,
  formatIPv4,
  formatIPv6,
  type AsPathSegment,
  type BgpMessage,
  type Capability,
  type CodecContext,
  type PathAttributes,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u8 = fc.integer({ min: 0, max: 0xff });

export const prefixV4 = fc.tuple(u32, fc.integer({ min: 0, max: 32 })).map(([a, l]) => Prefix.v4(a, l));
export const prefixV6 = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })).map(([a, l]) => Prefix.v6(a, l));
export const ipv4Text = u32.map(formatIPv4);
export const ipv6Text = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIPv6);

const segment = (asn: fc.Arbitrary<number>): fc.Arbitrary<AsPathSegment> =>
  fc.record({ type: fc.integer({ min: 1, max: 4 }), asns: fc.array(asn, { minLength: 1, maxLength: 8 }) });

const KNOWN_ATTRS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32]);
const otherAttrs = fc
  .uniqueArray(
    fc.record({
      flags: fc.constantFrom(0x80, 0xc0, 0xe0, 0xa0),
      typeCode: u8.filter((t) => !KNOWN_ATTRS.has(t)),
      value: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    }),
    { selector: (r) => r.typeCode, maxLength: 3 },
  )
  .map((rs) => [...rs].sort((a, b) => a.typeCode - b.typeCode));

export function attributes(ctx: CodecContext): fc.Arbitrary<PathAttributes> {
  const asn = ctx.fourByteAs ? u32 : u16;
  const base = {
    origin: fc.integer({ min: 0, max: 2 }),
    asPath: fc.array(segment(asn), { maxLength: 4 }),
    nextHop: ipv4Text,
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true),
    aggregator: fc.record({ asn, address: ipv4Text }),
    communities: fc.array(u32, { minLength: 1, maxLength: 80 }),
    mpReach: fc.oneof(
      fc.record({ afi: fc.constant(1), safi: fc.constant(1), nextHop: ipv4Text, nlri: fc.array(prefixV4, { maxLength: 20 }) }),
      fc.record({ afi: fc.constant(2), safi: fc.constant(1), nextHop: ipv6Text, nlri: fc.array(prefixV6, { maxLength: 20 }) }),
      fc.record({ afi: fc.constant(2), safi: fc.constant(1), nextHop: ipv6Text, nextHopLinkLocal: ipv6Text, nlri: fc.array(prefixV6, { maxLength: 20 }) }),
    ),
    mpUnreach: fc.oneof(
      fc.record({ afi: fc.constant(1), safi: fc.constant(1), withdrawn: fc.array(prefixV4, { maxLength: 20 }) }),
      fc.record({ afi: fc.constant(2), safi: fc.constant(1), withdrawn: fc.array(prefixV6, { maxLength: 20 }) }),
    ),
    largeCommunities: fc.array(fc.record({ globalAdmin: u32, localData1: u32, localData2: u32 }), { minLength: 1, maxLength: 30 }),
    other: otherAttrs.filter((o) => o.length > 0),
  };
  // 4-octet sessions never carry AS4_PATH/AS4_AGGREGATOR (RFC 6793), 2-octet ones may.
  const arb = ctx.fourByteAs
    ? fc.record(base, { requiredKeys: [] })
    : fc.record({ ...base, as4Path: fc.array(segment(u32), { maxLength: 3 }), as4Aggregator: fc.record({ asn: u32, address: ipv4Text }) }, { requiredKeys: [] });
  return arb as fc.Arbitrary<PathAttributes>;
}

export function update(ctx: CodecContext): fc.Arbitrary<UpdateMessage> {
  return fc
    .record({ withdrawn: fc.array(prefixV4, { maxLength: 40 }), attributes: attributes(ctx), nlri: fc.array(prefixV4, { maxLength: 40 }) })
    .map(({ withdrawn, attributes: a, nlri }) => {
      // Routes need the well-known mandatory attributes, else decode (rightly) flags treat-as-withdraw.
      const routes = nlri.length > 0 || (a.mpReach?.nlri.length ?? 0) > 0;
      const attrs: PathAttributes = routes ? { origin: 0, asPath: [], ...a } : a;
      if (nlri.length > 0 && attrs.nextHop === undefined) attrs.nextHop = '192.0.2.1';
      return { type: 'update' as const, withdrawn, attributes: attrs, nlri };
    });
}

const KNOWN_CAPS = new Set([1, 2, 5, 6, 64, 65, 128]);
export const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ kind: fc.constant('multiprotocol' as const), afi: u16, safi: u8 }),
  fc.constant({ kind: 'route-refresh' as const }),
  fc.constant({ kind: 'route-refresh-cisco' as const }),
  fc.constant({ kind: 'extended-message' as const }),
  fc.record({ kind: fc.constant('extended-next-hop' as const), families: fc.array(fc.record({ afi: u16, safi: u16, nextHopAfi: u16 }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('four-octet-as' as const), asn: u32 }),
  fc.record({
    kind: fc.constant('graceful-restart' as const),
    restartState: fc.boolean(),
    notification: fc.boolean(),
    restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: u8, forwardingState: fc.boolean() }), { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('unknown' as const), code: u8.filter((c) => !KNOWN_CAPS.has(c)), value: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)) }),
);

export function message(ctx: CodecContext): fc.Arbitrary<BgpMessage> {
  return fc.oneof(
    fc.record({
      type: fc.constant('open' as const),
      version: fc.constant(4),
      myAs: u16,
      holdTime: u16,
      bgpIdentifier: u32,
      capabilities: fc.array(capability, { maxLength: 12 }),
    }),
    update(ctx),
    fc.record({ type: fc.constant('notification' as const), code: u8, subcode: u8, data: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) }),
    fc.constant({ type: 'keepalive' as const }),
    fc.record({ type: fc.constant('route-refresh' as const), afi: u16, subtype: u8, safi: u8 }),
  );
}
