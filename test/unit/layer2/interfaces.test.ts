import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { InterfaceWatcher } from '../../../protocols/layer2/interface-watcher.js';
import { compileExcludes, InterfaceSelectionError, selectInterfaces, type LinkFacts } from '../../../protocols/layer2/interfaces.js';
import type { LinkInfo } from '../../../protocols/layer2/io.js';
import { formatMac } from '../../../protocols/rawio/mac.js';

const UP_BCAST = 0x1003; // UP | BROADCAST | MULTICAST
const link = (name: string, over: Partial<LinkFacts> = {}): LinkFacts => ({
  name,
  flags: UP_BCAST,
  type: 1,
  mac: '02:00:00:00:00:01',
  hasMaster: false,
  ...over,
});

const FACTS: LinkFacts[] = [
  link('lo', { flags: 0x49, type: 772, mac: '00:00:00:00:00:00' }),
  link('eth0'),
  link('eth1', { flags: 0x1002 }), // down
  link('eth2', { hasMaster: true }), // bond / bridge member
  link('br0', { mac: '02:00:00:00:00:0b' }),
  link('docker0'),
  link('cali1234'),
  link('kube-ipvs0', { flags: 0x82 | 0x1 }),
  link('noarp0', { flags: UP_BCAST | 0x80 }),
  link('ptp0', { flags: 0x11 }), // up, point-to-point, no broadcast
  link('wg0', { type: 65534, mac: '' }),
];

describe('interface selection', () => {
  it('by default: up, broadcast, ARP, Ethernet, not enslaved, not excluded', () => {
    const r = selectInterfaces(FACTS, {});
    expect(r.links.map((l) => l.name)).toEqual(['br0', 'eth0']);
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.name, s.reason]));
    expect(reasons).toMatchObject({
      lo: 'excluded by /^lo$/',
      eth1: 'down',
      eth2: 'member of a bridge or bond',
      docker0: 'excluded by /^docker/',
      cali1234: 'excluded by /^cali/',
      'kube-ipvs0': 'excluded by /^kube-ipvs/',
      noarp0: 'NOARP',
      ptp0: 'not broadcast-capable',
      wg0: 'not Ethernet',
    });
    expect(formatMac(r.links[0].mac)).toBe('02:00:00:00:00:0b');
  });

  it('a custom exclude list replaces the default', () => {
    const r = selectInterfaces(FACTS, { exclude: compileExcludes(['^br', '^lo$']) });
    expect(r.links.map((l) => l.name)).toEqual(['cali1234', 'docker0', 'eth0']);
  });

  it('an explicit list is used as given, still only when usable', () => {
    const r = selectInterfaces(FACTS, { include: ['eth2', 'docker0', 'eth1', 'nope0'] });
    expect(r.links.map((l) => l.name)).toEqual(['eth2', 'docker0']);
    expect(r.skipped).toEqual([
      { name: 'eth1', reason: 'down' },
      { name: 'nope0', reason: 'not found' },
    ]);
  });

  it('names a bad regex', () => {
    expect(() => compileExcludes(['^ok', '(['])).toThrow(InterfaceSelectionError);
    expect(() => compileExcludes(['^ok', '(['])).toThrow(/exclude\[1\]/);
  });
});

describe('InterfaceWatcher', () => {
  it('applies the selection at start and again only when it changes', () => {
    let facts = [link('eth0')];
    const applied: LinkInfo[][] = [];
    const clock = new ManualClock();
    const w = new InterfaceWatcher({ source: { links: () => facts }, selection: {}, apply: (l) => applied.push(l), clock, periodMs: 500 });
    w.start();
    expect(applied.map((a) => a.map((l) => l.name))).toEqual([['eth0']]);
    clock.advance(2000);
    expect(applied).toHaveLength(1);
    facts = [link('eth0'), link('eth1')];
    clock.advance(500);
    expect(applied.map((a) => a.map((l) => l.name))).toEqual([['eth0'], ['eth0', 'eth1']]);
    facts = [link('eth0', { flags: 0x1002 }), link('eth1')];
    clock.advance(500);
    expect(applied[2].map((l) => l.name)).toEqual(['eth1']);
    w.stop();
    facts = [];
    clock.advance(5000);
    expect(applied).toHaveLength(3);
    expect(clock.pending()).toBe(0);
  });
});
