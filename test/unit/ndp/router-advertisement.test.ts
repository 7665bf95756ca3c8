// RS/RA codec and frames (RFC 4861 §4.1, §4.2, §6.1): round trips, the validity checks of §6.1.1 and
// §6.1.2 each naming its field and byte offset, and arbitrary bytes giving only FrameError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { icmpv6Checksum } from '../../../protocols/ndp/checksum.js';
import { formatIpv6, parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import * as ra from '../../../protocols/ndp/router-advertisement.js';
import { decodeRouterFrame, encodeRouterFrame, routerAdvertisementFrame, routerDropReason, routerSolicitationFrame, type RouterDropReason } from '../../../protocols/ndp/router-frames.js';
import { FrameError } from '../../../protocols/rawio/frame-error.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';
import { linkLocal16, routerMessage, unicast16, unicastMac } from './arbitraries.js';

// Captured on a veth between two lab namespaces (tcpdump -xx): FRR 8.4 zebra's RA with
// `no ipv6 nd suppress-ra` and `ipv6 nd ra-interval 3` (lifetime 3 x 3 s, source link-layer option).
const ZEBRA_RA = Buffer.from(
  '333300000001c63bf7c03b2386dd6009293300183afffe80000000000000c43bf7fffec03b23ff02000000000000' + '000000000000000186004bde400000090000000000000000' + '0101c63bf7c03b23',
  'hex',
);
const MAC = parseMac('02:00:00:00:00:0a');
const LL = parseIpv6('fe80::aff:fe00:a');

/** Recomputes the ICMPv6 checksum after a test edited the frame (so only the intended check fails). */
function reseal(f: Buffer): Buffer {
  f.writeUInt16BE(0, 56);
  f.writeUInt16BE(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54, 54 + f.readUInt16BE(18))), 56);
  return f;
}

function dropOf(frame: Buffer): { reason: RouterDropReason; field: string; offset: number | undefined } {
  try {
    decodeRouterFrame(frame);
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    return { reason: routerDropReason(e), field: e.field, offset: e.offset };
  }
  throw new Error('frame was accepted');
}

describe('RS/RA codec', () => {
  it("decodes zebra's RA", () => {
    const f = decodeRouterFrame(ZEBRA_RA);
    expect(formatIpv6(f.ip.src)).toBe('fe80::c43b:f7ff:fec0:3b23');
    expect(f.msg).toEqual({ type: 134, curHopLimit: 64, managed: false, other: false, routerLifetime: 9, reachableTime: 0, retransTimer: 0, prefixes: [], sourceLinkLayer: parseMac('c6:3b:f7:c0:3b:23') });
    // Rebuilt from the decoded fields, byte for byte.
    const again = encodeRouterFrame({ eth: f.eth, ip: { ...f.ip }, msg: f.msg });
    expect(again.toString('hex')).toBe(ZEBRA_RA.toString('hex'));
  });

  it('round-trips messages at any offset', () => {
    fc.assert(
      fc.property(routerMessage, fc.nat(16), (m, pad) => {
        const buf = Buffer.alloc(pad + ra.encodingLength(m), 0xee);
        expect(ra.encode(m, buf, pad)).toBe(ra.encodingLength(m));
        expect(ra.decode(buf, pad)).toEqual(m);
      }),
    );
  });

  it('round-trips whole frames from a link-local source with a valid checksum', () => {
    fc.assert(
      fc.property(routerMessage, unicastMac, linkLocal16, (m, src, ipSrc) => {
        const dst = m.type === 133 ? parseIpv6('ff02::2') : parseIpv6('ff02::1');
        const frame = encodeRouterFrame({ eth: { dst: parseMac('33:33:00:00:00:01'), src, etherType: 0x86dd }, ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src: ipSrc, dst }, msg: m });
        const back = decodeRouterFrame(frame);
        expect(back.msg).toEqual(m);
        expect(back.ip.src.equals(ipSrc)).toBe(true);
      }),
    );
  });

  it('builds our RA (lifetime 0, source link-layer option, ff02::1, hop limit 255) and RS (ff02::2)', () => {
    const a = decodeRouterFrame(routerAdvertisementFrame(MAC, LL));
    expect(formatMac(a.eth.dst)).toBe('33:33:00:00:00:01');
    expect(formatIpv6(a.ip.dst)).toBe('ff02::1');
    expect(formatIpv6(a.ip.src)).toBe('fe80::aff:fe00:a');
    expect(a.ip.hopLimit).toBe(255);
    expect(a.msg).toEqual({ type: 134, curHopLimit: 0, managed: false, other: false, routerLifetime: 0, reachableTime: 0, retransTimer: 0, prefixes: [], sourceLinkLayer: MAC });
    const s = decodeRouterFrame(routerSolicitationFrame(MAC, LL));
    expect(formatMac(s.eth.dst)).toBe('33:33:00:00:00:02');
    expect(formatIpv6(s.ip.dst)).toBe('ff02::2');
    expect(s.msg).toEqual({ type: 133, sourceLinkLayer: MAC });
  });

  it('decodes MTU and prefix options and skips unknown ones', () => {
    const m: ra.RouterAdvertisement = {
      type: 134,
      curHopLimit: 64,
      managed: true,
      other: false,
      routerLifetime: 1800,
      reachableTime: 0,
      retransTimer: 0,
      mtu: 9000,
      prefixes: [{ prefixLength: 64, onLink: true, autonomous: true, validLifetime: 2592000, preferredLifetime: 604800, prefix: parseIpv6('2001:db8:0:1::') }],
    };
    const body = Buffer.alloc(ra.encodingLength(m) + 16);
    ra.encode(m, body, 0);
    body[ra.encodingLength(m)] = 25; // RDNSS (RFC 8106), 2 units: not ours, skipped
    body[ra.encodingLength(m) + 1] = 2;
    expect(ra.decode(body)).toEqual(m);
  });

  it('refuses bad values on encode, naming the field', () => {
    const base: ra.RouterAdvertisement = { type: 134, curHopLimit: 0, managed: false, other: false, routerLifetime: 0, reachableTime: 0, retransTimer: 0, prefixes: [] };
    expect(() => ra.encode({ ...base, routerLifetime: 70000 }, Buffer.alloc(64))).toThrow(expect.objectContaining({ field: 'ra.routerLifetime' }));
    expect(() => ra.encode({ ...base, prefixes: [{ prefixLength: 129, onLink: true, autonomous: false, validLifetime: 0, preferredLifetime: 0, prefix: Buffer.alloc(16) }] }, Buffer.alloc(64))).toThrow(
      expect.objectContaining({ field: 'ra.option.prefix[0].prefixLength' }),
    );
    expect(() => ra.encode({ type: 133, sourceLinkLayer: Buffer.alloc(5) }, Buffer.alloc(64))).toThrow(FrameError);
    expect(() => ra.encode(base, Buffer.alloc(15))).toThrow(expect.objectContaining({ field: 'ra' }));
  });
});

describe('RS/RA validity (RFC 4861 §6.1): dropped with a reason, field and offset', () => {
  const good = () => routerAdvertisementFrame(MAC, LL, { routerLifetime: 9, mtu: 1500 });
  const cases: Array<[string, () => Buffer, RouterDropReason, string, number]> = [
    ['hop limit 64', () => reseal(Object.assign(good(), {}).fill(64, 21, 22)), 'hopLimit', 'ipv6.hopLimit', 21],
    ['global source', () => reseal(Buffer.concat([good().subarray(0, 22), parseIpv6('2001:db8::1'), good().subarray(38)])), 'source', 'ipv6.src', 22],
    ['unspecified source', () => reseal(Buffer.concat([good().subarray(0, 22), Buffer.alloc(16), good().subarray(38)])), 'source', 'ipv6.src', 22],
    ['ICMP code 1', () => reseal(good().fill(1, 55, 56)), 'code', 'ndp.code', 55],
    ['bad checksum', () => good().fill(0x12, 57, 58), 'checksum', 'icmpv6.checksum', 56],
    ['15-byte RA', () => reseal(Buffer.from(good().subarray(0, 54 + 15)).fill(0, 18, 19).fill(15, 19, 20)), 'length', 'ndp.length', 54],
    ['payload longer than the frame', () => good().fill(0xff, 18, 19), 'length', 'ipv6.payloadLength', 18],
    ['option of length 0', () => reseal(good().fill(0, 71, 72)), 'malformed', 'ndp.option[0].length', 71],
    ['multicast Ethernet source', () => reseal(good().fill(0x33, 6, 7)), 'source', 'ethernet.src', 6],
    ['MTU option of 2 units', () => reseal(Buffer.concat([good(), Buffer.alloc(8)]).fill(0, 18, 19).fill(70 - 54 + 24, 19, 20).fill(2, 79, 80)), 'malformed', 'ndp.option[1].length', 79],
  ];
  for (const [name, frame, reason, field, offset] of cases) {
    it(`${name}: ${reason}`, () => {
      expect(dropOf(frame())).toEqual({ reason, field, offset });
    });
  }

  it('accepts the unmodified frame', () => {
    expect(decodeRouterFrame(good()).msg.type).toBe(134);
  });

  it('RS: unspecified source with a link-layer option dropped, without accepted; multicast source dropped', () => {
    const rs = (src: Buffer, ll: boolean) =>
      encodeRouterFrame({ eth: { dst: parseMac('33:33:00:00:00:02'), src: MAC, etherType: 0x86dd }, ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src, dst: parseIpv6('ff02::2') }, msg: ll ? { type: 133, sourceLinkLayer: MAC } : { type: 133 } });
    expect(dropOf(rs(Buffer.alloc(16), true))).toEqual({ reason: 'malformed', field: 'ndp.option.sourceLinkLayer', offset: 62 });
    expect(decodeRouterFrame(rs(Buffer.alloc(16), false)).msg).toEqual({ type: 133 });
    expect(decodeRouterFrame(rs(parseIpv6('2001:db8::1'), true)).msg.type).toBe(133);
    expect(dropOf(rs(parseIpv6('ff02::1'), false)).field).toBe('ipv6.src');
  });

  it('random bytes, random tails and truncations throw only FrameError with an offset inside the input', () => {
    const only = (b: Buffer, fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
        const off = (e as FrameError).offset;
        if (off !== undefined) expect(off >= 0 && off <= b.length).toBe(true);
      }
    };
    const frame = good();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), unicast16, (bytes, addr) => {
        const b = Buffer.from(bytes);
        only(b, () => decodeRouterFrame(b));
        only(b, () => ra.decode(b, 0));
        const tail = Buffer.concat([frame.subarray(0, 54), b]);
        only(tail, () => decodeRouterFrame(tail));
        const spoof = reseal(Buffer.concat([frame.subarray(0, 22), addr, frame.subarray(38)]));
        only(spoof, () => decodeRouterFrame(spoof));
      }),
      { numRuns: 2000 },
    );
    for (let n = 0; n < frame.length; n++) expect(() => decodeRouterFrame(frame.subarray(0, n))).toThrow(FrameError);
  });
});
