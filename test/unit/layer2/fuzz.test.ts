// A time-bounded fuzzer over the layer2 decoders and the announcer's frame handler: every crafted
// class of test/lab/hostile-frames.ts (valid and invalid) mutated byte by byte, truncated or
// extended, plus raw random bytes. The codecs may only return or throw a FrameError whose offset
// lies inside the input; the announcer (fed what the kernel's BPF filter passes) may never throw,
// and whatever it sends must be an answer a host can use: an ARP reply about a VIP to a unicast
// MAC, a gratuitous ARP for a VIP, or an NA for a VIP to a unicast address or all nodes. The RS/RA
// decoders (router-frames.ts) run over the same inputs, seeded with an RA and an RS as well.
// Bounded per CI run: FUZZ_MS per target (HERALD_FUZZ_MS changes it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeArpFrame } from '../../../protocols/arp/frames.js';
import * as arp from '../../../protocols/arp/packet.js';
import { ManualClock } from '../../../protocols/clock.js';
import { Announcer } from '../../../protocols/layer2/announcer.js';
import { decodeNdpFrame } from '../../../protocols/ndp/frames.js';
import { formatIpv6, parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import * as ipv6 from '../../../protocols/ndp/ipv6.js';
import * as ndp from '../../../protocols/ndp/messages.js';
import * as ra from '../../../protocols/ndp/router-advertisement.js';
import { decodeRouterFrame, routerAdvertisementFrame, routerSolicitationFrame } from '../../../protocols/ndp/router-frames.js';
import { startRouterLink } from '../../../protocols/ndp/router-link.js';
import { frameFilter, runFilter } from '../../../protocols/rawio/bpf.js';
import * as ethernet from '../../../protocols/rawio/ethernet.js';
import { FrameError } from '../../../protocols/rawio/frame-error.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';
import { claimFrames, hostileCases, type HostileParams } from '../../lab/hostile-frames.js';
import { FakeRouterIo } from '../ndp/fake-router-io.js';
import { FakeIo } from './fake-io.js';

const FUZZ_MS = Number(process.env.HERALD_FUZZ_MS ?? 1000);
const budget = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS };

const OWNER = parseMac('02:00:00:00:00:01');
const params: HostileParams = {
  clientMac: parseMac('02:00:00:00:00:99'),
  clientIp4: '192.0.2.10',
  clientIp6: '2001:db8:0:1::a',
  ownerMac: OWNER,
  vip4: '203.0.113.10',
  vip6: '2001:db8:ffff::10',
  jumboLength: 2100,
};
const claims = claimFrames(params);
const RA_SRC = parseIpv6('fe80::99');
// RS/RA seeds too (router-frames.ts), with every option the decoder reads.
const routerSeeds = [
  routerAdvertisementFrame(params.clientMac, RA_SRC, {
    routerLifetime: 9,
    mtu: 1500,
    prefixes: [{ prefixLength: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 1800, prefix: parseIpv6('2001:db8:0:1::') }],
  }),
  routerSolicitationFrame(params.clientMac, RA_SRC),
];
const seeds = [...hostileCases(params).map((c) => c.frame), claims.arp, claims.na, ...routerSeeds];

/** A crafted frame with a few edits: byte flips, a truncation or an extension. */
const mutated: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.integer({ min: -40, max: 40 }))
  .map(([seed, edits, resize]) => {
    let b = Buffer.from(seed);
    for (const [at, v] of edits) b[at % b.length] = v;
    if (resize < 0) b = b.subarray(0, Math.max(0, b.length + resize));
    else if (resize > 0) b = Buffer.concat([b, Buffer.alloc(resize, resize)]);
    return b;
  });
const random = fc.uint8Array({ maxLength: 160 }).map((a) => Buffer.from(a));
const input = fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: random, weight: 1 });

/** Returns, or throws a FrameError naming a byte offset inside the input; anything else fails. */
function onlyFrameError(input: Buffer, fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    if (e.offset !== undefined && (e.offset < 0 || e.offset > input.length)) throw new Error(`offset ${e.offset} outside the ${input.length}-byte input: ${e.message}`);
  }
}

const decoders: Array<[string, (b: Buffer) => unknown]> = [
  ['decodeArpFrame', (b) => decodeArpFrame(b)],
  ['ARP packet decode (at 0 and behind an Ethernet header)', (b) => (onlyFrameError(b, () => arp.decode(b, 0)), arp.decode(b, Math.min(14, b.length)))],
  ['decodeNdpFrame', (b) => decodeNdpFrame(b)],
  ['NDP message decode', (b) => (onlyFrameError(b, () => ndp.decode(b, 0)), ndp.decode(b, Math.min(54, b.length)))],
  ['decodeRouterFrame', (b) => decodeRouterFrame(b)],
  ['RS/RA message decode', (b) => (onlyFrameError(b, () => ra.decode(b, 0)), ra.decode(b, Math.min(54, b.length)))],
  ['IPv6 and Ethernet header decode', (b) => (onlyFrameError(b, () => ethernet.decode(b, 0)), ipv6.decode(b, Math.min(14, b.length)))],
];

describe('fuzz: layer2 decoders return or throw FrameError with an offset inside the input', () => {
  for (const [name, fn] of decoders) {
    it(name, () => {
      fc.assert(fc.property(input, (b) => onlyFrameError(b, () => fn(b))), budget);
    });
  }
});

describe('fuzz: the announcer never throws and only sends usable answers', () => {
  it('whatever the kernel filter passes', () => {
    const filter = frameFilter({ arpOps: [1, 2], icmp6Types: [135, 136] });
    const io = new FakeIo();
    const clock = new ManualClock();
    const a = new Announcer({ io, clock, garpCount: 0, onConflict: () => {}, log: { info: () => {}, debug: () => {}, warn: () => {} } });
    a.setInterfaces([{ name: 'eth0', mac: OWNER }]);
    a.announce(params.vip4);
    a.announce(params.vip6);
    const eth0 = io.port('eth0');
    let sent = 0;
    fc.assert(
      fc.property(input, (frame) => {
        if (runFilter(filter, frame) === 0) return;
        eth0.sent.length = 0;
        eth0.deliver(frame);
        // Past the defend interval now and then, so defences are exercised too.
        clock.advance(1000);
        sent += eth0.sent.length;
        for (const out of eth0.sent) {
          expect(formatMac(out.subarray(6, 12))).toBe(formatMac(OWNER));
          if (out.readUInt16BE(12) === ethernet.ETHERTYPE_ARP) {
            const r = decodeArpFrame(out);
            expect(r.arp.senderIp).toBe(params.vip4);
            if (r.arp.op === arp.ARP_REPLY) {
              // Never to broadcast, multicast or zero (RFC 826 practice).
              expect(r.eth.dst[0] & 1).toBe(0);
              expect(formatMac(r.eth.dst)).not.toBe('00:00:00:00:00:00');
            } else expect(r.arp.targetIp).toBe(params.vip4); // a gratuitous (defensive) announcement
          } else {
            const r = decodeNdpFrame(out);
            expect(r.msg.type).toBe(136);
            expect(formatIpv6(r.msg.target)).toBe(params.vip6);
            const dst = formatIpv6(r.ip.dst);
            // All nodes (DAD answer, defence) or a unicast neighbour: never ::, loopback, another group.
            if (dst !== 'ff02::1') expect(dst === '::' || dst === '::1' || r.ip.dst[0] === 0xff).toBe(false);
          }
        }
      }),
      budget,
    );
    // Not vacuous: many mutated requests are still valid, and answered.
    expect(sent).toBeGreaterThan(0);
  });
});

describe('fuzz: the router link never throws and learns only from valid RAs', () => {
  it('whatever the kernel filter passes', () => {
    const filter = frameFilter({ icmp6Types: [133, 134] });
    const io = new FakeRouterIo({ mac: OWNER, linkLocal: parseIpv6('fe80::1') });
    const clock = new ManualClock();
    const link = startRouterLink({ ifname: 'eth0', io, clock, sendAdvertisements: true, onRouter: () => {} });
    let learned = 0;
    fc.assert(
      fc.property(input, (frame) => {
        if (runFilter(filter, frame) === 0) return;
        const before = { received: link.counters.raReceived, router: link.router() };
        let valid = true;
        try {
          valid = decodeRouterFrame(frame).msg.type === 134;
        } catch {
          valid = false;
        }
        io.port.deliver(frame);
        if (!valid) expect({ received: link.counters.raReceived, router: link.router() }).toEqual(before);
        if (link.router() !== before.router) learned++;
        // Now and then past any router's lifetime, so learning happens more than once.
        clock.advance(60_000);
      }),
      budget,
    );
    expect(link.state()).toBe('up');
    expect(learned).toBeGreaterThan(0);
  });
});
