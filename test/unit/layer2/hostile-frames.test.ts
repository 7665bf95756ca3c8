// Every class of crafted ARP/NDP frame (test/lab/hostile-frames.ts) through the announcer: answered,
// dropped and counted, or noticed as another host claiming the VIP (RFC 5227 §2.4 defence, once per
// interval). The lab runs the same catalogue over real packet sockets (test/lab/l2-hostile.test.ts).
import { describe, expect, it } from 'vitest';
import { decodeArpFrame } from '../../../protocols/arp/frames.js';
import { ManualClock } from '../../../protocols/clock.js';
import { Announcer, DEFEND_INTERVAL_MS, type AddressConflict } from '../../../protocols/layer2/announcer.js';
import { decodeNdpFrame } from '../../../protocols/ndp/frames.js';
import { formatIpv6 } from '../../../protocols/ndp/ipv6-address.js';
import { frameFilter, runFilter } from '../../../protocols/rawio/bpf.js';
import { ringSlotFor } from '../../../protocols/rawio/addon.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';
import { claimFrames, hostileCases, type HostileParams } from '../../lab/hostile-frames.js';
import { FakeIo } from './fake-io.js';

const OWNER = parseMac('02:00:00:00:00:01');
const params: HostileParams = {
  clientMac: parseMac('02:00:00:00:00:99'),
  clientIp4: '192.0.2.10',
  clientIp6: '2001:db8:0:1::a',
  ownerMac: OWNER,
  vip4: '203.0.113.10',
  vip6: '2001:db8:ffff::10',
};

function owner() {
  const io = new FakeIo();
  const clock = new ManualClock();
  const conflicts: AddressConflict[] = [];
  const warnings: object[] = [];
  const a = new Announcer({
    io,
    clock,
    garpCount: 0,
    onConflict: (c) => conflicts.push(c),
    log: { info: () => {}, debug: () => {}, warn: (o) => warnings.push(o) },
  });
  a.setInterfaces([{ name: 'eth0', mac: OWNER }]);
  a.announce(params.vip4);
  a.announce(params.vip6);
  return { a, clock, conflicts, warnings, eth0: io.port('eth0') };
}

describe('layer2 announcer against crafted frames', () => {
  for (const c of hostileCases(params).filter((x) => !x.labOnly)) {
    it(`${c.expect}s ${c.name}`, () => {
      const { a, conflicts, eth0 } = owner();
      const before = a.globalCounters();
      eth0.deliver(c.frame);
      if (c.expect === 'answer') {
        expect(eth0.sent).toHaveLength(1);
        if (c.family === 4) {
          const r = decodeArpFrame(eth0.sent[0]);
          expect(r.arp.op).toBe(2);
          expect(r.arp.senderIp).toBe(params.vip4);
          expect(formatMac(r.eth.dst)).toBe(formatMac(params.clientMac));
        } else {
          const r = decodeNdpFrame(eth0.sent[0]);
          expect(r.msg.type).toBe(136);
          expect(formatIpv6(r.msg.target)).toBe(params.vip6);
          // A DAD probe has no address to answer to: all nodes, Solicited clear (RFC 4861 §7.2.4).
          const dad = c.name.includes('DAD');
          expect(formatIpv6(r.ip.dst)).toBe(dad ? 'ff02::1' : params.clientIp6);
          expect(r.msg.type === 136 && r.msg.solicited).toBe(!dad);
        }
        expect(conflicts).toEqual([]);
      } else if (c.expect === 'drop') {
        expect(eth0.sent).toHaveLength(0);
        expect(conflicts).toEqual([]);
        const after = a.globalCounters();
        // Every drop of a well-formed frame is counted by reason, a malformed one as invalid; not
        // owning the target is not a fault.
        const counted = Object.values(after.dropped).reduce((x, y) => x + y, 0) + after.invalidFrames;
        const was = Object.values(before.dropped).reduce((x, y) => x + y, 0) + before.invalidFrames;
        expect(counted - was).toBe(c.name.includes('we do not own') ? 0 : 1);
      } else {
        expect(conflicts).toHaveLength(1);
        expect(conflicts[0]).toMatchObject({ interface: 'eth0', mac: formatMac(params.clientMac), defended: true });
        expect(eth0.sent).toHaveLength(1); // the one defensive announcement
      }
    });
  }

  it('defends a claimed VIP once per interval, never an ARP war, and logs once per defence', () => {
    const { a, clock, conflicts, warnings, eth0 } = owner();
    const claim = claimFrames(params);
    for (let i = 0; i < 50; i++) eth0.deliver(claim.arp);
    expect(conflicts).toHaveLength(50);
    expect(conflicts.filter((c) => c.defended)).toHaveLength(1);
    expect(eth0.sent).toHaveLength(1);
    const g = decodeArpFrame(eth0.sent[0]);
    expect(g.arp).toMatchObject({ senderIp: params.vip4, targetIp: params.vip4 });
    expect(formatMac(g.arp.senderMac)).toBe(formatMac(OWNER));
    expect(warnings).toHaveLength(1);
    clock.advance(DEFEND_INTERVAL_MS - 1);
    eth0.deliver(claim.arp);
    expect(eth0.sent).toHaveLength(1);
    clock.advance(1);
    eth0.deliver(claim.arp);
    expect(eth0.sent).toHaveLength(2);
    expect(a.counters().get(params.vip4)?.conflicts).toBe(52);
    // The VIP is still answered: who owns it stays the cluster's decision.
    expect(a.announced()).toContain(params.vip4);

    eth0.deliver(claim.na);
    expect(conflicts.at(-1)).toMatchObject({ vip: params.vip6, how: 'na', defended: true });
    expect(decodeNdpFrame(eth0.sent.at(-1) as Buffer).msg).toMatchObject({ type: 136, override: true, solicited: false });
  });

  it('notices nothing when the claiming MAC is our own', () => {
    const { conflicts, eth0 } = owner();
    eth0.deliver(claimFrames({ ...params, clientMac: OWNER }).arp);
    expect(conflicts).toEqual([]);
    expect(eth0.sent).toHaveLength(0);
  });
});

describe('kernel filter: VLANs and extension headers', () => {
  const prog = frameFilter({ arpOps: [1, 2], icmp6Types: [135, 136] });
  const cases = hostileCases(params);
  const frameOf = (name: string) => {
    const c = cases.find((x) => x.name === name);
    if (!c) throw new Error(name);
    return c.frame;
  };

  it('drops frames tagged for another VLAN, passes untagged and priority-tagged ones', () => {
    const request = frameOf('arp: broadcast request');
    expect(runFilter(prog, request)).toBeGreaterThan(0);
    expect(runFilter(prog, request, { vlanTci: 100 })).toBe(0);
    expect(runFilter(prog, request, { vlanTci: 0 })).toBeGreaterThan(0);
    expect(runFilter(prog, request, { vlanTci: 0xe000 })).toBeGreaterThan(0); // priority 7, VLAN id 0
    expect(runFilter(prog, frameOf('ns: multicast solicitation'), { vlanTci: 0x0fff })).toBe(0);
  });

  it('passes an NS behind one hop-by-hop or destination options header, not behind two', () => {
    expect(runFilter(prog, frameOf('ns: behind a hop-by-hop header'))).toBeGreaterThan(0);
    expect(runFilter(prog, frameOf('ns: behind a destination options header'))).toBeGreaterThan(0);
    expect(runFilter(prog, frameOf('ns: behind two extension headers'))).toBe(0);
  });

  it('sizes receive slots for the link MTU (jumbo frames read whole)', () => {
    expect(ringSlotFor(1500)).toBe(2048);
    expect(ringSlotFor(9000)).toBe(9020);
    expect(ringSlotFor(9000) % 4).toBe(0);
    expect(ringSlotFor(1_000_000)).toBe(65536);
    expect(ringSlotFor(NaN)).toBe(2048);
  });
});
