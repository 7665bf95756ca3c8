// The router link's state machine on a fake interface and a manual clock: solicits and advertises,
// learns the router from its RAs, follows expiry, renumbering, link down/up and socket errors, and
// drops and counts every invalid frame (RFC 4861 §6.1) without learning from it.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { formatIpv6, parseIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import { decodeRouterFrame, encodeRouterFrame, routerAdvertisementFrame, routerSolicitationFrame } from '../../../protocols/ndp/router-frames.js';
import { MAX_SOLICITATIONS, SOLICITATION_INTERVAL_MS, startRouterLink, type RouterLinkLog } from '../../../protocols/ndp/router-link.js';
import { linkLocalFromIfInet6 } from '../../../protocols/ndp/router-link-io.js';
import { parseMac } from '../../../protocols/rawio/mac.js';
import { hostileRouterAdvertisements } from '../../lab/hostile-router-frames.js';
import { FakeRouterIo } from './fake-router-io.js';

const OUR_MAC = parseMac('02:00:00:00:00:01');
const OUR_LL = parseIpv6('fe80::1');
const R1_MAC = parseMac('02:00:00:00:00:aa');
const R1 = parseIpv6('fe80::aa');
const R2_MAC = parseMac('02:00:00:00:00:bb');
const R2 = parseIpv6('fe80::bb');
const INTERVAL = 10_000;

function setup(o: { send?: boolean; facts?: boolean } = {}) {
  const io = new FakeRouterIo(o.facts === false ? undefined : { mac: OUR_MAC, linkLocal: OUR_LL });
  const clock = new ManualClock();
  const seen: Array<string | undefined> = [];
  const warnings: object[] = [];
  const log: RouterLinkLog = { info: () => {}, debug: () => {}, warn: (obj) => warnings.push(obj) };
  const link = startRouterLink({ ifname: 'eth0', io, clock, sendAdvertisements: o.send ?? true, intervalMs: INTERVAL, onRouter: (a) => seen.push(a), log });
  const sentTypes = () => io.port.sent.map((f) => decodeRouterFrame(f).msg.type);
  return { io, clock, seen, link, warnings, sentTypes };
}

const ra = (lifetime = 30, mac = R1_MAC, src = R1) => routerAdvertisementFrame(mac, src, { routerLifetime: lifetime, curHopLimit: 64 });

describe('router link', () => {
  it('solicits and advertises at once; our RA has lifetime 0, our link-local source and hop limit 255', () => {
    const { io, link, sentTypes } = setup();
    expect(link.state()).toBe('up');
    expect(sentTypes().sort()).toEqual([133, 134]);
    const ours = decodeRouterFrame(io.port.sent.find((f) => f[54] === 134)!);
    expect(formatIpv6(ours.ip.src)).toBe('fe80::1');
    expect(formatIpv6(ours.ip.dst)).toBe('ff02::1');
    expect(ours.ip.hopLimit).toBe(255);
    expect(ours.msg.type === 134 && ours.msg.routerLifetime).toBe(0);
    expect(ours.msg.sourceLinkLayer?.equals(OUR_MAC)).toBe(true);
    expect(io.port.groups).toEqual(['ff020000000000000000000000000002']);
    expect(link.local()).toEqual({ mac: OUR_MAC, linkLocal: 'fe80::1' });
  });

  it('advertises every interval; solicits at most 3 times while no router is known', () => {
    const { clock, link, sentTypes } = setup();
    clock.advance(INTERVAL * 3);
    expect(sentTypes().filter((t) => t === 134)).toHaveLength(4);
    expect(sentTypes().filter((t) => t === 133)).toHaveLength(MAX_SOLICITATIONS);
    expect(link.counters.rsSent).toBe(3);
  });

  it('without sendAdvertisements only solicits, and joins no group', () => {
    const { io, clock, sentTypes } = setup({ send: false });
    clock.advance(INTERVAL * 3);
    expect(sentTypes()).toEqual([133, 133, 133]);
    expect(io.port.groups).toEqual([]);
  });

  it('learns the router from its first RA, stops soliciting, and tells once per change', () => {
    const { io, clock, seen, link, sentTypes } = setup({ send: false });
    io.port.deliver(ra());
    expect(seen).toEqual(['fe80::aa']);
    expect(link.router()).toBe('fe80::aa');
    for (let i = 0; i < 5; i++) {
      clock.advance(5000);
      io.port.deliver(ra());
    }
    expect(seen).toEqual(['fe80::aa']);
    expect(sentTypes()).toEqual([133]);
    expect(link.counters.raReceived).toBe(6);
  });

  it('forgets a silent router after its lifetime (3 x interval when it advertises 0) and solicits again', () => {
    const { io, clock, seen, link, sentTypes } = setup({ send: false });
    io.port.deliver(ra(9));
    clock.advance(8999);
    expect(link.router()).toBe('fe80::aa');
    clock.advance(1);
    expect(seen).toEqual(['fe80::aa', undefined]);
    expect(sentTypes()).toEqual([133, 133]);
    io.port.deliver(ra(0));
    clock.advance(3 * INTERVAL - 1);
    expect(link.router()).toBe('fe80::aa');
    clock.advance(1);
    expect(seen).toEqual(['fe80::aa', undefined, 'fe80::aa', undefined]);
  });

  it('refreshing RAs re-arm no timer (no per-packet timer churn); a shorter lifetime is honoured', () => {
    const { io, clock, seen } = setup({ send: false });
    io.port.deliver(ra(30));
    const pending = clock.pending();
    for (let i = 0; i < 1000; i++) io.port.deliver(ra(30));
    expect(clock.pending()).toBe(pending);
    io.port.deliver(ra(2));
    clock.advance(2000);
    expect(seen).toEqual(['fe80::aa', undefined]);
  });

  it('keeps the first router while it lives; a second one is counted, and adopted once the first is gone', () => {
    const { io, clock, seen, link } = setup({ send: false });
    io.port.deliver(ra(9));
    io.port.deliver(ra(9, R2_MAC, R2));
    expect(link.router()).toBe('fe80::aa');
    expect(link.counters.otherRouter).toBe(1);
    clock.advance(9000);
    io.port.deliver(ra(9, R2_MAC, R2));
    expect(seen).toEqual(['fe80::aa', undefined, 'fe80::bb']);
  });

  it('follows a renumbered router (same MAC, new link-local) at once', () => {
    const { io, seen } = setup({ send: false });
    io.port.deliver(ra(30));
    io.port.deliver(ra(30, R1_MAC, R2));
    expect(seen).toEqual(['fe80::aa', 'fe80::bb']);
  });

  it('follows link down and up: router forgotten, socket closed, reopened and soliciting again', () => {
    const { io, clock, seen, link } = setup();
    io.port.deliver(ra());
    const first = io.port;
    io.current = undefined;
    clock.advance(1000);
    expect(link.state()).toBe('down');
    expect(first.closed).toBe(true);
    expect(seen).toEqual(['fe80::aa', undefined]);
    expect(link.router()).toBeUndefined();
    io.current = { mac: OUR_MAC, linkLocal: OUR_LL };
    clock.advance(1000);
    expect(link.state()).toBe('up');
    expect(io.ports).toHaveLength(2);
    expect(io.port.sent.map((f) => f[54]).sort()).toEqual([133, 134]);
    io.port.deliver(ra());
    expect(seen).toEqual(['fe80::aa', undefined, 'fe80::aa']);
  });

  it('reopens when our link-local address changes; our frames use the new one', () => {
    const { io, clock } = setup();
    io.current = { mac: OUR_MAC, linkLocal: parseIpv6('fe80::2') };
    clock.advance(1000);
    expect(io.ports).toHaveLength(2);
    expect(formatIpv6(decodeRouterFrame(io.port.sent[0]).ip.src)).toBe('fe80::2');
  });

  it('waits for the interface, retries a failed open on every poll and warns once', () => {
    const { io, clock, link, warnings } = setup({ facts: false });
    expect(link.state()).toBe('down');
    io.current = { mac: OUR_MAC, linkLocal: OUR_LL };
    io.failOpen = new Error('EPERM');
    clock.advance(3000);
    expect(link.counters.openErrors).toBe(3);
    expect(warnings).toHaveLength(1);
    io.failOpen = undefined;
    clock.advance(1000);
    expect(link.state()).toBe('up');
  });

  it('a socket error takes the link down until the next poll; send errors are counted, never thrown', () => {
    const { io, clock, seen, link } = setup();
    io.port.deliver(ra());
    io.port.sendResult = new Error('ENXIO');
    clock.advance(INTERVAL);
    expect(link.counters.sendErrors).toBe(1);
    io.port.fail(new Error('ENETDOWN'));
    expect(link.state()).toBe('down');
    expect(seen).toEqual(['fe80::aa', undefined]);
    clock.advance(1000);
    expect(link.state()).toBe('up');
  });

  it('answers a solicitation with an RA, at most once per 3 s', () => {
    const { io, clock, link } = setup();
    const rs = routerSolicitationFrame(R1_MAC, R1);
    clock.advance(3000);
    io.port.sent.length = 0;
    io.port.deliver(rs);
    io.port.deliver(rs);
    expect(io.port.sent.map((f) => f[54])).toEqual([134]);
    expect(link.counters.rsReceived).toBe(2);
  });

  it('drops and counts invalid RAs and our own frames; never learns from them', () => {
    const { io, seen, link } = setup();
    const cases = hostileRouterAdvertisements(R1_MAC, R1);
    for (const c of cases) io.port.deliver(c.frame);
    io.port.deliver(routerAdvertisementFrame(OUR_MAC, R1));
    io.port.deliver(routerAdvertisementFrame(R2_MAC, OUR_LL));
    expect(seen).toEqual([]);
    const want = { hopLimit: 0, source: 0, code: 0, checksum: 0, length: 0, malformed: 0, own: 2 };
    for (const c of cases) want[c.drop]++;
    expect(link.counters.dropped).toEqual(want);
    expect(Object.values(want).every((n) => n > 0)).toBe(true);
    expect(link.counters.raReceived).toBe(0);
  });

  it('close stops everything: no timers, no sends, no callbacks', () => {
    const { io, clock, seen, link } = setup();
    io.port.deliver(ra());
    link.close();
    expect(link.state()).toBe('closed');
    expect(io.port.closed).toBe(true);
    expect(clock.pending()).toBe(0);
    io.port.deliver(encodeRouterFrame({ eth: { dst: R1_MAC, src: R2_MAC, etherType: 0x86dd }, ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src: R2, dst: OUR_LL }, msg: { type: 134, curHopLimit: 0, managed: false, other: false, routerLifetime: 9, reachableTime: 0, retransTimer: 0, prefixes: [] } }));
    clock.advance(SOLICITATION_INTERVAL_MS * 10);
    expect(seen).toEqual(['fe80::aa']);
  });
});

describe('link-local address from /proc/net/if_inet6', () => {
  const text = [
    '20010db8000000010000000000000010 02 40 00 80     eth0',
    'fe800000000000000000000000000009 03 40 20 40     eth1',
    'fe800000000000000000000000000008 02 40 20 c0     eth0',
    'fe8000000000000000000000000000aa 02 40 20 80     eth0',
    '00000000000000000000000000000001 01 80 10 80       lo',
  ].join('\n');

  it('takes the first link-scope address that is neither tentative nor failed DAD', () => {
    expect(formatIpv6(linkLocalFromIfInet6(text, 'eth0')!)).toBe('fe80::aa');
    expect(linkLocalFromIfInet6(text, 'eth1')).toBeUndefined();
    expect(linkLocalFromIfInet6(text, 'lo')).toBeUndefined();
    expect(linkLocalFromIfInet6('garbage\n\n', 'eth0')).toBeUndefined();
  });
});
