import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arpRequestFrame, decodeArpFrame, encodeArpFrame } from '../../../protocols/arp/frames.js';
import { ManualClock } from '../../../protocols/clock.js';
import { Announcer, parseVip, VipError } from '../../../protocols/layer2/announcer.js';
import { decodeNdpFrame, encodeNdpFrame, solicitationFrame } from '../../../protocols/ndp/frames.js';
import { formatIpv6, parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';
import { FakeIo } from './fake-io.js';

const MAC1 = parseMac('02:00:00:00:00:01');
const MAC2 = parseMac('02:00:00:00:00:02');
const CLIENT = parseMac('02:00:00:00:00:99');
const CLIENT6 = parseIpv6('2001:db8:0:1::a');
const V4 = '203.0.113.10';
const V6 = '2001:db8:ffff::10';

function setup(opts: { garpCount?: number; garpIntervalMs?: number; mayAnswer?: () => boolean } = {}) {
  const io = new FakeIo();
  const clock = new ManualClock();
  const a = new Announcer({ io, clock, ...opts });
  a.setInterfaces([{ name: 'eth0', mac: MAC1 }]);
  return { io, clock, a, eth0: io.port('eth0') };
}

const who = (target: string) => arpRequestFrame('192.0.2.10', CLIENT, target);
const ns = (target: string) => solicitationFrame(parseIpv6(target), CLIENT, CLIENT6);

describe('Announcer: ARP', () => {
  it('answers requests for owned VIPs with a unicast reply from the interface MAC', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V4);
    eth0.deliver(who(V4));
    expect(eth0.sent).toHaveLength(1);
    const r = decodeArpFrame(eth0.sent[0]);
    expect(formatMac(r.eth.dst)).toBe(formatMac(CLIENT));
    expect(formatMac(r.eth.src)).toBe(formatMac(MAC1));
    expect(r.arp).toMatchObject({ op: 2, senderIp: V4, targetIp: '192.0.2.10' });
    expect(formatMac(r.arp.senderMac)).toBe(formatMac(MAC1));
    expect(a.counters().get(V4)).toEqual({ requestsReceived: 1, responsesSent: 1, gratuitousSent: 0, conflicts: 0 });
  });

  it('ignores VIPs it does not own, replies, foreign unicast and announcements of other addresses', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V4);
    eth0.deliver(who('203.0.113.11'));
    const f = decodeArpFrame(who(V4));
    eth0.deliver(encodeArpFrame({ eth: f.eth, arp: { ...f.arp, op: 2 } }));
    eth0.deliver(encodeArpFrame({ eth: { ...f.eth, dst: MAC2 }, arp: f.arp }));
    eth0.deliver(encodeArpFrame({ eth: f.eth, arp: { ...f.arp, senderIp: '203.0.113.11', targetIp: '203.0.113.11' } }));
    expect(eth0.sent).toHaveLength(0);
    // unicast to our own MAC is answered (a client refreshing its entry)
    eth0.deliver(encodeArpFrame({ eth: { ...f.eth, dst: MAC1 }, arp: f.arp }));
    expect(eth0.sent).toHaveLength(1);
  });

  it('stops answering at once on withdraw, and answers again after a new announce', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V4);
    a.withdraw(V4);
    eth0.deliver(who(V4));
    expect(eth0.sent).toHaveLength(0);
    expect(a.announced()).toEqual([]);
    a.announce(V4);
    eth0.deliver(who(V4));
    expect(eth0.sent).toHaveLength(1);
    expect(a.counters().get(V4)?.requestsReceived).toBe(1);
  });

  it('sends nothing for a VIP while mayAnswer() says no (answers, gratuitous rounds, defences), read per frame', () => {
    let may = false;
    const { a, eth0, clock } = setup({ garpCount: 3, garpIntervalMs: 100, mayAnswer: () => may });
    a.announce(V4);
    eth0.deliver(who(V4));
    // Another host claims the VIP: no defence either.
    eth0.deliver(encodeArpFrame({ eth: { dst: parseMac('ff:ff:ff:ff:ff:ff'), src: MAC2, etherType: 0x0806 }, arp: { op: 2, senderMac: MAC2, senderIp: V4, targetMac: parseMac('ff:ff:ff:ff:ff:ff'), targetIp: V4 } }));
    clock.advance(100);
    expect(eth0.sent).toHaveLength(0);
    expect(a.globalCounters().notAnswering).toBe(5); // two gratuitous rounds of 2 frames and the answer (a defence is not even tried)
    may = true;
    eth0.deliver(who(V4));
    expect(eth0.sent).toHaveLength(1);
  });
});

describe('Announcer: NDP', () => {
  it('answers NS carrying a source link-layer option with a solicited NA', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V6);
    eth0.deliver(ns(V6));
    expect(eth0.sent).toHaveLength(1);
    const r = decodeNdpFrame(eth0.sent[0]);
    expect(formatMac(r.eth.dst)).toBe(formatMac(CLIENT));
    expect(formatIpv6(r.ip.dst)).toBe(formatIpv6(CLIENT6));
    expect(formatIpv6(r.ip.src)).toBe(V6);
    expect(r.msg).toEqual({ type: 136, router: false, solicited: true, override: true, target: parseIpv6(V6), targetLinkLayer: MAC1 });
  });

  it('ignores other targets, NAs for other addresses and NS to another MAC', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V6);
    const f = decodeNdpFrame(ns(V6));
    eth0.deliver(ns('2001:db8:ffff::11'));
    const other = parseIpv6('2001:db8:ffff::11');
    eth0.deliver(encodeNdpFrame({ eth: f.eth, ip: f.ip, msg: { type: 136, router: false, solicited: false, override: true, target: other, targetLinkLayer: CLIENT } }));
    eth0.deliver(encodeNdpFrame({ eth: { ...f.eth, dst: MAC2 }, ip: f.ip, msg: f.msg }));
    expect(eth0.sent).toHaveLength(0);
    expect(a.counters().get(V6)?.requestsReceived).toBe(0);
  });

  it('accepts any spelling of the VIP', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce('2001:DB8:FFFF:0::0010');
    expect(a.announced()).toEqual([V6]);
    eth0.deliver(ns(V6));
    expect(eth0.sent).toHaveLength(1);
  });

  it('joins the solicited-node group once per group (reference-counted) and leaves when the last VIP goes', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    const group = 'ff0200000000000000000001ff000010';
    a.announce(V6);
    a.announce('2001:db8:eeee::10'); // same low 24 bits: same group
    expect([...eth0.groups]).toEqual([group]);
    expect(eth0.joins).toEqual([group]);
    a.withdraw(V6);
    expect([...eth0.groups]).toEqual([group]);
    a.withdraw('2001:db8:eeee::10');
    expect(eth0.groups.size).toBe(0);
    a.announce(V4);
    expect(eth0.groups.size).toBe(0);
  });
});

describe('Announcer: gratuitous burst', () => {
  it('sends a round at once and then every interval, garpCount rounds in all', () => {
    const { a, clock, eth0 } = setup({ garpCount: 6, garpIntervalMs: 1000 });
    a.announce(V4);
    a.announce(V6);
    expect(eth0.sent).toHaveLength(3); // ARP request + reply, one NA
    const [req, rep] = eth0.sent.slice(0, 2).map(decodeArpFrame);
    expect([req.arp.op, rep.arp.op]).toEqual([1, 2]);
    for (const f of [req, rep]) expect([f.arp.senderIp, f.arp.targetIp, formatMac(f.eth.dst)]).toEqual([V4, V4, 'ff:ff:ff:ff:ff:ff']);
    const na = decodeNdpFrame(eth0.sent[2]);
    expect(formatIpv6(na.ip.dst)).toBe('ff02::1');
    expect(na.msg).toMatchObject({ type: 136, solicited: false, override: true });
    clock.advance(999);
    expect(eth0.sent).toHaveLength(3);
    clock.advance(1);
    expect(eth0.sent).toHaveLength(6);
    expect(a.bursting(V4)).toBe(true);
    clock.advance(4000);
    expect(eth0.sent).toHaveLength(18);
    expect(a.bursting(V4)).toBe(false);
    expect(clock.pending()).toBe(0);
    clock.advance(10_000);
    expect(eth0.sent).toHaveLength(18);
    expect(a.counters().get(V4)?.gratuitousSent).toBe(12);
    expect(a.counters().get(V6)?.gratuitousSent).toBe(6);
  });

  it('withdraw stops the burst', () => {
    const { a, clock, eth0 } = setup({ garpCount: 5, garpIntervalMs: 200 });
    a.announce(V4);
    clock.advance(200);
    a.withdraw(V4);
    expect(clock.pending()).toBe(0);
    clock.advance(5000);
    expect(eth0.sent).toHaveLength(4);
  });

  it('announce is idempotent (no second burst)', () => {
    const { a, clock, eth0 } = setup({ garpCount: 2, garpIntervalMs: 100 });
    a.announce(V4);
    a.announce(V4);
    clock.advance(1000);
    expect(eth0.sent).toHaveLength(4);
  });

  it('sends the same burst on every interface', () => {
    const { a, io } = setup({ garpCount: 1 });
    a.setInterfaces([
      { name: 'eth0', mac: MAC1 },
      { name: 'eth1', mac: MAC2 },
    ]);
    a.announce(V4);
    expect(io.port('eth0').sent).toHaveLength(2);
    expect(io.port('eth1').sent).toHaveLength(2);
    expect(formatMac(decodeArpFrame(io.port('eth1').sent[0]).arp.senderMac)).toBe(formatMac(MAC2));
  });
});

describe('Announcer: interfaces', () => {
  it('opens new interfaces with a gratuitous round and their groups, closes gone ones, reopens changed ones', () => {
    const { a, io, eth0 } = setup({ garpCount: 1 });
    a.announce(V4);
    a.announce(V6);
    eth0.sent.length = 0;
    a.setInterfaces([
      { name: 'eth0', mac: MAC1 },
      { name: 'eth1', mac: MAC2 },
    ]);
    expect(eth0.sent).toHaveLength(0);
    const eth1 = io.port('eth1');
    expect(eth1.sent).toHaveLength(3);
    expect(eth1.groups.size).toBe(1);
    a.setInterfaces([{ name: 'eth1', mac: MAC2 }]);
    expect(eth0.closed).toBe(true);
    expect(a.interfaces()).toEqual(['eth1']);
    a.setInterfaces([{ name: 'eth1', mac: MAC1 }]);
    expect(eth1.closed).toBe(true);
    const reopened = io.port('eth1');
    expect(reopened).not.toBe(eth1);
    expect(formatMac(decodeArpFrame(reopened.sent[0]).eth.src)).toBe(formatMac(MAC1));
  });

  it('logs each VIP announced, moved and withdrawn at info, or at the level asked (the speaker: debug)', () => {
    for (const vipLogLevel of [undefined, 'debug', 'info'] as const) {
      const lines: [string, string][] = [];
      const log = { info: (_: object, msg: string) => lines.push(['info', msg]), warn: (_: object, msg: string) => lines.push(['warn', msg]), debug: (_: object, msg: string) => lines.push(['debug', msg]) };
      const a = new Announcer({ io: new FakeIo(), clock: new ManualClock(), garpCount: 0, log, vipLogLevel });
      a.setInterfaces([{ name: 'eth0', mac: MAC1 }, { name: 'eth1', mac: MAC2 }]);
      lines.length = 0;
      a.announce(V4);
      a.announce(V4, ['eth1']);
      a.withdraw(V4);
      const level = vipLogLevel ?? 'info';
      expect(lines).toEqual([[level, 'announcing'], [level, 'interfaces changed'], [level, 'withdrawn']]);
    }
  });

  it('keeps serving the other interfaces when one cannot be opened', () => {
    const io = new FakeIo();
    io.failOpen.add('bad0');
    const a = new Announcer({ io, clock: new ManualClock() });
    a.setInterfaces([
      { name: 'bad0', mac: MAC2 },
      { name: 'eth0', mac: MAC1 },
    ]);
    expect(a.interfaces()).toEqual(['eth0']);
  });

  it('counts send failures without crashing and does not count them as responses', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V4);
    eth0.sendResult = false;
    eth0.deliver(who(V4));
    eth0.sendResult = new Error('ENETDOWN');
    eth0.deliver(who(V4));
    expect(a.counters().get(V4)).toEqual({ requestsReceived: 2, responsesSent: 0, gratuitousSent: 0, conflicts: 0 });
    expect(a.globalCounters().sendFailures).toBe(2);
  });

  it('close() stops everything', () => {
    const { a, clock, eth0 } = setup();
    a.announce(V4);
    a.close();
    expect(eth0.closed).toBe(true);
    expect(clock.pending()).toBe(0);
    expect(() => a.announce(V4)).toThrow(/closed/);
  });
});

describe('Announcer: robustness', () => {
  it('random and truncated frames never throw and get no reply', () => {
    const { a, eth0 } = setup({ garpCount: 0 });
    a.announce(V4);
    a.announce(V6);
    const valid = [who(V4), ns(V6)];
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.constantFrom(...valid), fc.nat(200)).map(([f, n]) => f.subarray(0, n % f.length)),
      fc.tuple(fc.constantFrom(0x0806, 0x86dd), fc.uint8Array({ maxLength: 100 })).map(([et, b]) => {
        const f = Buffer.concat([Buffer.alloc(12, 0xff), Buffer.from([et >> 8, et & 0xff]), Buffer.from(b)]);
        return f;
      }),
    );
    fc.assert(
      fc.property(frame, (f) => {
        const before = eth0.sent.length;
        expect(() => eth0.deliver(f)).not.toThrow();
        // Only a well-formed request for an owned VIP gets an answer; random bytes practically never are one.
        if (eth0.sent.length > before) {
          const t = f.readUInt16BE(12);
          expect(t === 0x0806 ? decodeArpFrame(f).arp.targetIp : formatIpv6((decodeNdpFrame(f).msg as { target: Buffer }).target)).toMatch(/203\.0\.113\.10|2001:db8:ffff::10/);
        }
      }),
      { numRuns: 3000 },
    );
    expect(a.globalCounters().invalidFrames).toBeGreaterThan(0);
  });

  it('rejects bad VIPs with a typed error', () => {
    const { a } = setup();
    expect(() => a.announce('203.0.113.300')).toThrow(VipError);
    expect(() => a.withdraw('fe80::1%eth0')).toThrow(VipError);
    expect(parseVip('2001:DB8::A')).toMatchObject({ ip: '2001:db8::a', family: 6 });
  });
});
