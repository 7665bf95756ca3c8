// The daemon's small parts: pool lookup by VIP, lean Service decoding,
// and the layer2 announcer's per-VIP reference counting over a fake Layer2Io.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import { Layer2Announcer } from '../../../speaker/layer2-announcer.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { poolContaining, poolOfService } from '../../../speaker/pool-lookup.js';
import { FakeIo } from '../layer2/fake-io.js';
import { claimFrames, hostileCases } from '../../lab/hostile-frames.js';
import { parseMac } from '../../../protocols/rawio/mac.js';

const config = parseConfig(`
address-pools:
- name: l2
  protocol: layer2
  addresses: [192.0.2.0/25, "2001:db8::1-2001:db8::ff"]
- name: b
  protocol: bgp
  addresses: [198.51.100.0/24]
`);

describe('pool lookup', () => {
  it('finds the pool holding an IP, of either family; none outside every pool or for garbage', () => {
    expect(poolContaining(config, '192.0.2.127')?.name).toBe('l2');
    expect(poolContaining(config, '2001:db8::ff')?.name).toBe('l2');
    expect(poolContaining(config, '198.51.100.9')?.name).toBe('b');
    expect(poolContaining(config, '192.0.2.128')).toBeUndefined();
    expect(poolContaining(config, 'not-an-ip')).toBeUndefined();
  });

  it('a Service needs all its IPs in one pool', () => {
    expect(poolOfService(config, ['192.0.2.1', '2001:db8::5'])).toMatchObject({ pool: { name: 'l2' } });
    expect(poolOfService(config, ['192.0.2.1', '198.51.100.1'])).toMatchObject({ pool: null, ip: '198.51.100.1' });
    expect(poolOfService(config, ['203.0.113.1'])).toMatchObject({ pool: null, ip: '203.0.113.1' });
  });
});

describe('Layer2Announcer', () => {
  it('announces a shared VIP until the last Service using it is deleted', () => {
    const io = new FakeIo();
    const clock = new ManualClock();
    const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
    const l2 = new Layer2Announcer({
      decide: () => null,
      io,
      include: ['eth0'],
      exclude: [],
      log: createLogger({ component: 'layer2', level: 'silent' }),
      metrics,
      clock,
      links: { links: () => [{ name: 'eth0', flags: 0x1043, type: 1, mac: '02:00:00:00:00:01', hasMaster: false }] },
    });
    l2.start();
    const pool = config.pools[0];
    l2.setBalancer('ns/a', ['192.0.2.1'], pool);
    l2.setBalancer('ns/b', ['192.0.2.1'], pool);
    const port = io.ports.get('eth0')!;
    expect(port.sent.length).toBeGreaterThan(0); // gratuitous ARP on announce
    l2.deleteBalancer('ns/a', 'serviceDeleted');
    const sentBefore = port.sent.length;
    clock.advance(1000); // the burst goes on: still announced for ns/b
    expect(port.sent.length).toBeGreaterThan(sentBefore);
    l2.deleteBalancer('ns/b', 'serviceDeleted');
    const after = port.sent.length;
    clock.advance(10_000);
    expect(port.sent.length).toBe(after); // withdrawn: no more gratuitous rounds
    l2.close();
    expect(port.closed).toBe(true);
  });

  it('turns a claimed VIP into one Warning Event per Service using it and counts conflicts and drops in the metrics', async () => {
    const io = new FakeIo();
    const clock = new ManualClock();
    const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
    const events: Array<[string, string, string]> = [];
    const l2 = new Layer2Announcer({
      decide: () => null,
      io,
      include: ['eth0'],
      exclude: [],
      log: createLogger({ component: 'layer2', level: 'silent' }),
      metrics,
      clock,
      links: { links: () => [{ name: 'eth0', flags: 0x1043, type: 1, mac: '02:00:00:00:00:01', hasMaster: false }] },
      serviceEvent: (service, type, reason) => events.push([service, type, reason]),
    });
    l2.start();
    l2.setBalancer('ns/a', ['192.0.2.1'], config.pools[0]);
    l2.setBalancer('ns/b', ['192.0.2.1'], config.pools[0]);
    const port = io.ports.get('eth0')!;
    const p = { clientMac: parseMac('02:00:00:00:00:99'), clientIp4: '192.0.2.10', clientIp6: '2001:db8::a', ownerMac: parseMac('02:00:00:00:00:01'), vip4: '192.0.2.1', vip6: '2001:db8::1' };
    port.deliver(claimFrames(p).arp);
    port.deliver(claimFrames(p).arp);
    expect(events).toEqual([
      ['ns/a', 'Warning', 'AddressConflict'],
      ['ns/b', 'Warning', 'AddressConflict'],
    ]);
    for (const c of hostileCases(p).filter((x) => x.name.startsWith('arp: sender IP'))) port.deliver(c.frame);
    port.ringDrops = 7; // the kernel ring overflowed
    clock.advance(1000); // the counter copy
    const text = await metrics.registry.metrics();
    expect(text).toContain('herald_layer2_address_conflicts_total{ip="192.0.2.1"} 2');
    expect(text).toContain('herald_layer2_frames_dropped_total{reason="sender-ip"} 4');
    expect(text).toContain('herald_layer2_frames_dropped_total{reason="ring-full"} 7');
    l2.close();
  });
});
