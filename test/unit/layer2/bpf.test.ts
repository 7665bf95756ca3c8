import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arpReplyFrame, arpRequestFrame, decodeArpFrame, gratuitousArpFrames } from '../../../protocols/arp/frames.js';
import { solicitationFrame, unsolicitedAdvertisementFrame } from '../../../protocols/ndp/frames.js';
import { parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import { encodeFilter, frameFilter, runFilter } from '../../../protocols/rawio/bpf.js';
import { parseMac } from '../../../protocols/rawio/mac.js';
import { withExtensionHeaders } from '../../lab/hostile-frames.js';

const mac = parseMac('02:00:00:00:00:01');
const request = arpRequestFrame('192.0.2.10', mac, '203.0.113.10');
const reply = arpReplyFrame(decodeArpFrame(request).arp, '203.0.113.10', mac);
const vip6 = parseIpv6('2001:db8:ffff::10');
const ns = solicitationFrame(vip6, mac, parseIpv6('2001:db8:0:1::a'));
const na = unsolicitedAdvertisementFrame(vip6, mac, vip6);

describe('BPF frame filter', () => {
  it('passes ARP requests and NS only (the announcer filter)', () => {
    const prog = frameFilter({ arpOps: [1], icmp6Types: [135] });
    expect(runFilter(prog, request)).toBeGreaterThan(0);
    expect(runFilter(prog, ns)).toBeGreaterThan(0);
    expect(runFilter(prog, reply)).toBe(0);
    expect(runFilter(prog, na)).toBe(0);
    expect(runFilter(prog, gratuitousArpFrames('203.0.113.10', mac)[0])).toBeGreaterThan(0); // a request: the announcer decides
    const ipv4 = Buffer.from(request);
    ipv4.writeUInt16BE(0x0800, 12);
    expect(runFilter(prog, ipv4)).toBe(0);
    const udp6 = Buffer.from(ns);
    udp6[20] = 17;
    expect(runFilter(prog, udp6)).toBe(0);
    expect(runFilter(prog, request.subarray(0, 13))).toBe(0);
  });

  it('builds single-protocol and multi-value programs', () => {
    const repliesOnly = frameFilter({ arpOps: [2] });
    expect(runFilter(repliesOnly, reply)).toBeGreaterThan(0);
    expect(runFilter(repliesOnly, request)).toBe(0);
    expect(runFilter(repliesOnly, ns)).toBe(0);
    const ndOnly = frameFilter({ icmp6Types: [135, 136] });
    expect(runFilter(ndOnly, ns)).toBeGreaterThan(0);
    expect(runFilter(ndOnly, na)).toBeGreaterThan(0);
    expect(runFilter(ndOnly, request)).toBe(0);
    const both = frameFilter({ arpOps: [1, 2], icmp6Types: [136] });
    for (const f of [request, reply, na]) expect(runFilter(both, f)).toBeGreaterThan(0);
    expect(runFilter(both, ns)).toBe(0);
  });

  it('agrees with a direct reading of the frame on random frames', () => {
    const prog = frameFilter({ arpOps: [1], icmp6Types: [135] });
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 90 }),
      fc.tuple(fc.constantFrom(request, ns, reply, na, withExtensionHeaders(ns, [0]), withExtensionHeaders(ns, [60])), fc.nat(97), fc.nat(255)).map(([f, i, b]) => {
        const c = Uint8Array.from(f);
        c[i % c.length] = b;
        return c;
      }),
    );
    fc.assert(
      fc.property(frame, (f) => {
        const et = f.length >= 14 ? (f[12] << 8) | f[13] : -1;
        const ext = f.length >= 56 && (f[20] === 0 || f[20] === 60) && f[54] === 58 ? 62 + f[55] * 8 : -1;
        const want =
          (et === 0x0806 && f.length >= 22 && ((f[20] << 8) | f[21]) === 1) ||
          (et === 0x86dd && f.length >= 55 && f[20] === 58 && f[54] === 135) ||
          (et === 0x86dd && ext > 0 && ext < f.length && f[ext] === 135);
        expect(runFilter(prog, f) > 0).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it('encodes struct sock_filter (8 bytes each)', () => {
    const prog = frameFilter({ arpOps: [1] });
    const buf = encodeFilter(prog);
    expect(buf.length).toBe(prog.length * 8);
    expect(buf.readUInt16LE(0)).toBe(0x30); // ldb vlan_avail (ancillary)
    expect(buf.readUInt32LE(4)).toBe(0xfffff030);
    expect(buf.readUInt16LE(5 * 8)).toBe(0x28); // ldh [12]
    expect(buf.readUInt32LE(5 * 8 + 4)).toBe(12);
  });
});
