// fast-check generators for the NDP codecs, shared by the NS/NA, RS/RA and fuzz tests.
import fc from 'fast-check';
import type { PrefixInformation, RouterMessage } from '../../../protocols/ndp/router-advertisement.js';

export const addr16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
export const unicast16 = addr16.filter((a) => a[0] !== 0xff);
/** fe80::/64 with a random interface identifier. */
export const linkLocal16 = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.concat([Buffer.from('fe80000000000000', 'hex'), Buffer.from(a)]));
export const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((a) => Buffer.from(a));
/** A MAC a host can own: not a group address, not zero. */
export const unicastMac = mac.map((m) => {
  m[0] &= 0xfe;
  m[5] |= 1;
  return m;
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const prefixInformation: fc.Arbitrary<PrefixInformation> = fc.record({
  prefixLength: fc.integer({ min: 0, max: 128 }),
  onLink: fc.boolean(),
  autonomous: fc.boolean(),
  validLifetime: u32,
  preferredLifetime: u32,
  prefix: addr16,
});

export const routerMessage: fc.Arbitrary<RouterMessage> = fc.oneof(
  fc.record({ type: fc.constant(133 as const), sourceLinkLayer: mac }),
  fc.record({ type: fc.constant(133 as const) }),
  fc.record(
    {
      type: fc.constant(134 as const),
      curHopLimit: fc.nat(255),
      managed: fc.boolean(),
      other: fc.boolean(),
      routerLifetime: fc.nat(0xffff),
      reachableTime: u32,
      retransTimer: u32,
      sourceLinkLayer: mac,
      mtu: u32,
      prefixes: fc.array(prefixInformation, { maxLength: 4 }),
    },
    { requiredKeys: ['type', 'curHopLimit', 'managed', 'other', 'routerLifetime', 'reachableTime', 'retransTimer', 'prefixes'] },
  ),
);
