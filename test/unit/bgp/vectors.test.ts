import { describe, expect, it } from 'vitest';
import {
  AS_TRANS,
  BgpError,
  decode,
  decodeOpen,
  endOfRib,
  endOfRibFamily,
  parseIPv4,
  parsePrefix,
  toBuffer,
  type OpenMessage,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MARKER = 'ff'.repeat(16);

describe('issue test vectors', () => {
  const metallb = hex(`${MARKER} 00 31 01 04 fd ea 00 5a b9 ec f0 27 14 02 12 01 04 00 01 00 01 01 04 00 02 00 01 41 04 00 00 fd ea`);
  const metallbOpen: OpenMessage = {
    type: 'open',
    version: 4,
    myAs: 65002,
    holdTime: 90,
    bgpIdentifier: parseIPv4('185.236.240.39'),
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'four-octet-as', asn: 65002 },
    ],
  };

  it("decodes and re-encodes MetalLB's OPEN byte for byte", () => {
    expect(decode(metallb, 0)).toEqual(metallbOpen);
    expect(toBuffer(metallbOpen).toString('hex')).toBe(metallb.toString('hex'));
  });

  const arista = hex(`${MARKER} 00 2b 01 04 fd e9 00 b4 b9 ec f0 40 0e 02 0c 01 04 00 01 00 01 02 00 40 02 00 b4`);
  const aristaOpen: OpenMessage = {
    type: 'open',
    version: 4,
    myAs: 65001,
    holdTime: 180,
    bgpIdentifier: parseIPv4('185.236.240.64'),
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'route-refresh' },
      { kind: 'graceful-restart', restartState: false, notification: false, restartTime: 180, families: [] },
    ],
  };

  it('decodes and re-encodes the Arista OPEN (no 4-octet AS capability)', () => {
    expect(decode(arista, 0)).toEqual(aristaOpen);
    expect(toBuffer(aristaOpen).toString('hex')).toBe(arista.toString('hex'));
  });

  it('decodes and encodes a KEEPALIVE', () => {
    const ka = hex(`${MARKER} 00 13 04`);
    expect(decode(ka, 0)).toEqual({ type: 'keepalive' });
    expect(toBuffer({ type: 'keepalive' }).equals(ka)).toBe(true);
  });

  it('accepts several capability parameters, unknown capabilities and the Cisco route-refresh code', () => {
    // Two parameters: [MP ipv4], [cisco RR (128), unknown cap 99 with 2 bytes]
    const body = hex('04 fd e9 00 b4 c0 00 02 01 10 02 06 01 04 00 01 00 01 02 06 80 00 63 02 ab cd');
    const msg = Buffer.concat([hex(MARKER), Buffer.from([0, 19 + body.length, 1]), body]);
    const open = decodeOpen(msg, 0);
    expect(open.capabilities).toEqual([
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'route-refresh-cisco' },
      { kind: 'unknown', code: 0x63, value: hex('abcd') },
    ]);
  });

  it('rejects an unsupported version with 2/1 and data = our version', () => {
    const bad = Buffer.from(metallb);
    bad[19] = 3;
    const err = (() => {
      try {
        decode(bad, 0);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BgpError);
    expect(err).toMatchObject({ code: 2, subcode: 1, data: Buffer.from([0, 4]) });
  });

  it('uses AS_TRANS constant 23456', () => {
    expect(AS_TRANS).toBe(23456);
  });
});

describe('UPDATE hand-computed vectors', () => {
  it('encodes an IPv4 announcement byte for byte', () => {
    const u: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.1', localPref: 100, communities: [((65001 << 16) | 100) >>> 0] },
      nlri: [parsePrefix('203.0.113.10/32'), parsePrefix('198.51.100.0/24')],
    };
    // attrs: ORIGIN 40 01 01 00 | AS_PATH 40 02 06 02 01 00 00 fd e9 | NEXT_HOP 40 03 04 c0 00 02 01
    //        LOCAL_PREF 40 05 04 00 00 00 64 | COMMUNITIES c0 08 04 fd e9 00 64  => 4+9+7+7+7 = 34
    // nlri: 20 cb 00 71 0a | 18 c6 33 64 => 9; total 19 + 2 + 2 + 34 + 9 = 66 = 0x42
    const expected = hex(
      `${MARKER} 00 42 02 0000 0022 40010100 4002060201 0000fde9 400304c0000201 40050400000064 c00804fde90064 20cb00710a 18c63364`,
    );
    expect(toBuffer(u).toString('hex')).toBe(expected.toString('hex'));
    expect(decode(expected, 0)).toEqual(u);
  });

  it('encodes a 2-octet AS path with AS_TRANS and AS4_PATH for an old peer', () => {
    const u: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: { origin: 0, asPath: [{ type: 2, asns: [4200000001] }], nextHop: '192.0.2.1' },
      nlri: [parsePrefix('203.0.113.10/32')],
    };
    const ctx = { fourByteAs: false, maxMessageLength: 4096 };
    // AS_PATH 40 02 04 02 01 5b a0 | AS4_PATH c0 11 06 02 01 fa 56 ea 01
    const expected = hex(`${MARKER} 00 37 02 0000 001b 40010100 400204 0201 5ba0 400304c0000201 c01106 0201 fa56ea01 20cb00710a`);
    expect(toBuffer(u, ctx).toString('hex')).toBe(expected.toString('hex'));
    expect(decode(expected, 0, ctx)).toEqual({
      ...u,
      attributes: { ...u.attributes, asPath: [{ type: 2, asns: [AS_TRANS] }], as4Path: [{ type: 2, asns: [4200000001] }] },
    });
  });

  it('encodes IPv6 through MP_REACH_NLRI with a link-local next hop', () => {
    const u: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [],
        mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nextHopLinkLocal: 'fe80::1', nlri: [parsePrefix('2001:db8:1::10/128')] },
      },
      nlri: [],
    };
    // MP_REACH: 80 0e 3a | 0002 01 20 <16 global> <16 ll> 00 | 80 <16 prefix>  value = 4+32+1+17 = 54 = 0x36
    const global = '20010db8000000000000000000000001';
    const ll = 'fe800000000000000000000000000001';
    const prefix = '20010db8000100000000000000000010';
    const expected = hex(`${MARKER} 00 57 02 0000 0040 40010100 400200 800e36 0002 01 20 ${global} ${ll} 00 80 ${prefix}`);
    expect(toBuffer(u).toString('hex')).toBe(expected.toString('hex'));
    expect(decode(expected, 0)).toEqual(u);
  });

  it('builds and recognises End-of-RIB for both families', () => {
    expect(toBuffer(endOfRib('ipv4')).toString('hex')).toBe(`${MARKER}001702` + '00000000');
    expect(toBuffer(endOfRib('ipv6')).toString('hex')).toBe(`${MARKER}001d02` + "0000" + "0006" + '800f03000201');
    expect(endOfRibFamily(decode(toBuffer(endOfRib('ipv6')), 0) as UpdateMessage)).toBe('ipv6');
    expect(endOfRibFamily(decode(toBuffer(endOfRib('ipv4')), 0) as UpdateMessage)).toBe('ipv4');
  });
});
