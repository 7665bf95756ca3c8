import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { icmpv6Checksum } from '../../../protocols/ndp/checksum.js';
import { decodeNdpFrame, encodeNdpFrame, solicitationFrame, solicitedAdvertisementFrame, unsolicitedAdvertisementFrame } from '../../../protocols/ndp/frames.js';
import * as ipv6 from '../../../protocols/ndp/ipv6.js';
import { canonicalIpv6, formatIpv6, parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import * as ndp from '../../../protocols/ndp/messages.js';
import type { NdpMessage } from '../../../protocols/ndp/messages.js';
import { multicastMac, solicitedNodeAddress } from '../../../protocols/ndp/multicast.js';
import { NA_FRAME_LENGTH, NS_WITHOUT_LINK_LAYER, solicitationLinkLayerOffset, writeSolicitedAdvertisement } from '../../../protocols/ndp/solicitation.js';
import { FrameError } from '../../../protocols/rawio/frame-error.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';
import { addr16, mac, unicast16 } from './arbitraries.js';

// Captured on a veth in a lab namespace (tcpdump -xx): Linux's NS for 2001:db8:0:1::b and the NA it got back from Linux.
const KERNEL_NS = Buffer.from(
  '3333ff00000b4a7e0257d13686dd6000000000203aff20010db80000000100000000000000' +
    '0aff0200000000000000000001ff00000b8700fffe0000000020010db8000000010000000000' +
    '00000b01014a7e0257d136',
  'hex',
);
const KERNEL_NA = Buffer.from(
  '4a7e0257d13666599e76d2ac86dd6000000000203aff20010db80000000100000000000000' +
    '0b20010db800000001000000000000000a8800b4d86000000020010db8000000010000000000' +
    '00000b020166599e76d2ac',
  'hex',
);

const message: fc.Arbitrary<NdpMessage> = fc.oneof(
  fc.record({ type: fc.constant(135 as const), target: unicast16, sourceLinkLayer: mac }),
  fc.record({ type: fc.constant(135 as const), target: unicast16 }),
  fc.record({
    type: fc.constant(136 as const),
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    target: unicast16,
    targetLinkLayer: mac,
  }),
  fc.record({ type: fc.constant(136 as const), router: fc.boolean(), solicited: fc.boolean(), override: fc.boolean(), target: unicast16 }),
);

function onlyFrameErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
  }
}

describe('IPv6 addresses', () => {
  it('formats canonically (RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:1:0:0:0:b', '2001:db8:0:1::b'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8::1:0:1', '2001:db8::1:0:1'],
      ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['FF02::1:FF00:10', 'ff02::1:ff00:10'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ];
    for (const [input, want] of cases) expect(canonicalIpv6(input)).toBe(want);
  });

  it('parse(format(x)) = x', () => {
    fc.assert(
      fc.property(addr16, (a) => {
        expect(parseIpv6(formatIpv6(a)).equals(a)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects non-addresses with a FrameError', () => {
    for (const bad of ['2001:db8::1::2', '2001:db8:::1', '12345::', 'fe80::1%eth0', '', '203.0.113.1']) {
      expect(() => parseIpv6(bad)).toThrow(FrameError);
    }
  });
});

describe('solicited-node multicast', () => {
  it('derives the group and its MAC', () => {
    const g = solicitedNodeAddress(parseIpv6('2001:db8:ffff::10'));
    expect(formatIpv6(g)).toBe('ff02::1:ff00:10');
    expect(formatMac(multicastMac(g))).toBe('33:33:ff:00:00:10');
    expect(formatIpv6(solicitedNodeAddress(parseIpv6('2001:db8::12:3456:789a')))).toBe('ff02::1:ff56:789a');
    expect(formatMac(multicastMac(parseIpv6('ff02::1')))).toBe('33:33:00:00:00:01');
    expect(() => multicastMac(parseIpv6('2001:db8::1'))).toThrow(FrameError);
  });
});

describe('ICMPv6 checksum', () => {
  it('verifies the kernel frames (sum over pseudo-header and message is 0)', () => {
    for (const f of [KERNEL_NS, KERNEL_NA]) {
      const src = f.subarray(22, 38);
      const dst = f.subarray(38, 54);
      expect(icmpv6Checksum(src, dst, f.subarray(54))).toBe(0);
      const zeroed = Buffer.from(f.subarray(54));
      zeroed.writeUInt16BE(0, 2);
      expect(icmpv6Checksum(src, dst, zeroed)).toBe(f.readUInt16BE(56));
    }
  });

  it('handles odd lengths', () => {
    const src = parseIpv6('2001:db8::1');
    const dst = parseIpv6('2001:db8::2');
    const msg = Buffer.from([0x80, 0, 0, 0, 1]);
    const c = icmpv6Checksum(src, dst, msg);
    msg.writeUInt16BE(c, 2);
    expect(icmpv6Checksum(src, dst, msg)).toBe(0);
  });
});

describe('NS/NA codec', () => {
  it('decodes the kernel NS and builds the byte-identical kernel NA', () => {
    const ns = decodeNdpFrame(KERNEL_NS);
    expect(ns.msg.type).toBe(135);
    if (ns.msg.type !== 135) return;
    expect(formatIpv6(ns.msg.target)).toBe('2001:db8:0:1::b');
    expect(formatMac(ns.msg.sourceLinkLayer!)).toBe('4a:7e:02:57:d1:36');
    expect(formatIpv6(ns.ip.src)).toBe('2001:db8:0:1::a');
    expect(ns.ip.hopLimit).toBe(255);
    const target = parseIpv6('2001:db8:0:1::b');
    const na = solicitedAdvertisementFrame(ns, target, parseMac('66:59:9e:76:d2:ac'), target);
    expect(na.toString('hex')).toBe(KERNEL_NA.toString('hex'));
    const back = decodeNdpFrame(na);
    expect(back.msg).toEqual({ type: 136, router: false, solicited: true, override: true, target, targetLinkLayer: parseMac('66:59:9e:76:d2:ac') });
  });

  it('round-trips messages', () => {
    fc.assert(
      fc.property(message, fc.nat(16), (m, pad) => {
        const buf = Buffer.alloc(pad + ndp.encodingLength(m));
        expect(ndp.encode(m, buf, pad)).toBe(ndp.encodingLength(m));
        expect(ndp.decode(buf, pad)).toEqual(m);
      }),
    );
  });

  it('round-trips whole frames with a valid checksum', () => {
    fc.assert(
      fc.property(message, mac, mac, addr16, addr16, (m, dst, src, ipSrc, ipDst) => {
        const frame = encodeNdpFrame({ eth: { dst, src, etherType: 0x86dd }, ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src: ipSrc, dst: ipDst }, msg: m });
        const back = decodeNdpFrame(frame);
        expect(back.msg).toEqual(m);
        expect(back.ip.src.equals(ipSrc) && back.ip.dst.equals(ipDst)).toBe(true);
        expect(back.ip.payloadLength).toBe(ndp.encodingLength(m));
      }),
    );
  });

  it('IPv6 header round-trips', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.nat(0xfffff), fc.nat(0xffff), fc.nat(255), fc.nat(255), addr16, addr16, (tc, fl, pl, nh, hl, s, d) => {
        const h = { trafficClass: tc, flowLabel: fl, payloadLength: pl, nextHeader: nh, hopLimit: hl, src: s, dst: d };
        const buf = Buffer.alloc(40);
        ipv6.encode(h, buf, 0);
        expect(ipv6.decode(buf, 0)).toEqual(h);
      }),
    );
  });

  it('skips unknown options and ignores non-Ethernet link-layer options', () => {
    const m = Buffer.alloc(24 + 8 + 16 + 8);
    ndp.encode({ type: 135, target: parseIpv6('2001:db8::1') }, m, 0);
    m[24] = 14; // nonce option, 1 unit
    m[25] = 1;
    m[32] = 1; // source link-layer option of 2 units (not Ethernet)
    m[33] = 2;
    m[48] = 1; // the Ethernet one
    m[49] = 1;
    parseMac('02:00:00:00:00:09').copy(m, 50);
    const d = ndp.decode(m, 0);
    expect(d.type === 135 && d.sourceLinkLayer && formatMac(d.sourceLinkLayer)).toBe('02:00:00:00:00:09');
  });

  it('rejects invalid frames with the field and offset', () => {
    const hop = Buffer.from(KERNEL_NS);
    hop[21] = 64;
    expect(() => decodeNdpFrame(hop)).toThrow(expect.objectContaining({ field: 'ipv6.hopLimit', offset: 21 }));
    const sum = Buffer.from(KERNEL_NS);
    sum[57] ^= 1;
    expect(() => decodeNdpFrame(sum)).toThrow(expect.objectContaining({ field: 'icmpv6.checksum', offset: 56 }));
    const optLen = Buffer.from(KERNEL_NS);
    optLen[79] = 0;
    const src = optLen.subarray(22, 38);
    const dst = optLen.subarray(38, 54);
    optLen.writeUInt16BE(0, 56);
    optLen.writeUInt16BE(icmpv6Checksum(src, dst, optLen.subarray(54)), 56);
    expect(() => decodeNdpFrame(optLen)).toThrow(expect.objectContaining({ field: 'ndp.option[0].length', offset: 79 }));
    const long = Buffer.from(KERNEL_NS);
    long.writeUInt16BE(200, 18);
    expect(() => decodeNdpFrame(long)).toThrow(expect.objectContaining({ field: 'ipv6.payloadLength' }));
    const echo = Buffer.from(KERNEL_NS);
    echo[54] = 128;
    expect(() => ndp.decode(echo, 54)).toThrow(expect.objectContaining({ field: 'icmpv6.type', offset: 54 }));
  });

  it('random bytes, random tails and truncations throw only FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        onlyFrameErrors(() => decodeNdpFrame(Buffer.from(bytes)));
        onlyFrameErrors(() => ndp.decode(Buffer.from(bytes), 0));
        onlyFrameErrors(() => decodeNdpFrame(Buffer.concat([KERNEL_NS.subarray(0, 54), Buffer.from(bytes)])));
      }),
      { numRuns: 2000 },
    );
    for (let n = 0; n < KERNEL_NS.length; n++) expect(() => decodeNdpFrame(KERNEL_NS.subarray(0, n))).toThrow(FrameError);
  });

  it('builds the unsolicited NA to all nodes with Override and the multicast NS', () => {
    const vip = parseIpv6('2001:db8:ffff::10');
    const m = parseMac('02:00:00:00:00:01');
    const na = decodeNdpFrame(unsolicitedAdvertisementFrame(vip, m, vip));
    expect(formatMac(na.eth.dst)).toBe('33:33:00:00:00:01');
    expect(formatIpv6(na.ip.dst)).toBe('ff02::1');
    expect(na.msg).toEqual({ type: 136, router: false, solicited: false, override: true, target: vip, targetLinkLayer: m });
    const ns = decodeNdpFrame(solicitationFrame(vip, m, parseIpv6('2001:db8:0:1::a')));
    expect(formatMac(ns.eth.dst)).toBe('33:33:ff:00:00:10');
    expect(formatIpv6(ns.ip.dst)).toBe('ff02::1:ff00:10');
    expect(ns.msg).toEqual({ type: 135, target: vip, sourceLinkLayer: m });
  });

  it('refuses to answer a solicitation without a source link-layer option', () => {
    const ns = decodeNdpFrame(KERNEL_NS);
    if (ns.msg.type === 135) delete ns.msg.sourceLinkLayer;
    expect(() => solicitedAdvertisementFrame(ns, parseIpv6('2001:db8::1'), parseMac('02:00:00:00:00:01'), parseIpv6('2001:db8::1'))).toThrow(FrameError);
  });
});

describe('NS answer hot path', () => {
  const ours = parseMac('66:59:9e:76:d2:ac');

  /** What the codec path answers for a frame: the NA bytes, or null for no answer. */
  function codecAnswer(frame: Buffer, target: Buffer): string | null {
    let ns;
    try {
      ns = decodeNdpFrame(frame);
    } catch {
      return null;
    }
    if (ns.msg.type !== 135 || !ns.msg.sourceLinkLayer) return null;
    return solicitedAdvertisementFrame(ns, target, ours, target).toString('hex');
  }

  function fastAnswer(frame: Buffer, target: Buffer): string | null {
    const ll = solicitationLinkLayerOffset(frame);
    // The fast path's verdict on a frame it does not answer must match the codec's too.
    let isNsWithout = false;
    try {
      const d = decodeNdpFrame(frame);
      isNsWithout = d.msg.type === 135 && !d.msg.sourceLinkLayer;
    } catch {
      isNsWithout = false;
    }
    expect(ll === NS_WITHOUT_LINK_LAYER).toBe(isNsWithout);
    return ll < 0 ? null : writeSolicitedAdvertisement(Buffer.alloc(NA_FRAME_LENGTH, 0xee), frame, ll, target, ours).toString('hex');
  }

  it('answers the kernel NS exactly as the kernel did', () => {
    const target = parseIpv6('2001:db8:0:1::b');
    expect(fastAnswer(KERNEL_NS, target)).toBe(KERNEL_NA.toString('hex'));
  });

  it('agrees with the codec on built, mangled and random frames', () => {
    const frame = fc.oneof(
      fc.tuple(message, mac, mac, addr16, addr16, fc.constantFrom(255, 64)).map(([m, dst, src, s, d, hl]) =>
        encodeNdpFrame({ eth: { dst, src, etherType: 0x86dd }, ip: { trafficClass: 0, flowLabel: 0, hopLimit: hl, src: s, dst: d }, msg: m }),
      ),
      fc.tuple(fc.nat(KERNEL_NS.length - 1), fc.nat(255)).map(([i, b]) => {
        const f = Buffer.from(KERNEL_NS);
        f[i] = b;
        return f;
      }),
      fc.nat(KERNEL_NS.length).map((n) => KERNEL_NS.subarray(0, n)),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([KERNEL_NS.subarray(0, 78), Buffer.from(b)])),
    );
    fc.assert(
      fc.property(frame, unicast16, (f, target) => {
        expect(fastAnswer(f, target)).toBe(codecAnswer(f, target));
      }),
      { numRuns: 3000 },
    );
  });
});
