// The BGP announcer: sessions only to peers whose node-selectors match the node's labels; Services
// change routes by incremental UPDATEs on the existing sessions; a change of one peer's config
// resets only that peer's session; shutdown withdraws and sends Cease.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import type { BgpMessage, UpdateMessage } from '../../../protocols/bgp/index.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';

function config(p2Hold = 90): string {
  return `
peers:
- peer-address: 192.0.2.1
  peer-asn: 65001
  my-asn: 64512
- peer-address: 192.0.2.2
  peer-asn: 65001
  my-asn: 64512
  hold-time: ${p2Hold}s
  node-selectors:
  - match-labels:
      rack: a
address-pools:
- name: b
  protocol: bgp
  addresses: [203.0.113.0/24]
  bgp-advertisements:
  - communities: ["64512:7"]
`;
}

const updates = (msgs: BgpMessage[]): UpdateMessage[] => msgs.filter((m): m is UpdateMessage => m.type === 'update');
const nlri = (msgs: BgpMessage[]): string[] => updates(msgs).flatMap((u) => u.nlri.map(String));
const withdrawn = (msgs: BgpMessage[]): string[] => updates(msgs).flatMap((u) => u.withdrawn.map(String));

function setup() {
  const clock = new ManualClock();
  const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
  const sockets = new Map<string, FakeSocket[]>();
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock,
    metrics,
    log: createLogger({ component: 'bgp', level: 'silent' }),
    connect: (peer) => {
      const s = new FakeSocket('192.0.2.10', peer.peerAddress);
      sockets.set(peer.peerAddress, [...(sockets.get(peer.peerAddress) ?? []), s]);
      return s;
    },
  });
  const last = (peer: string): FakeSocket => {
    const list = sockets.get(peer) ?? [];
    return list[list.length - 1];
  };
  const establish = (peer: string): void => {
    const s = last(peer);
    s.connect();
    s.take();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    s.take();
  };
  return { clock, sockets, announcer, last, establish, metrics };
}

describe('BgpAnnouncer', () => {
  it('selects peers by node labels, advertises Services incrementally, resets only a reconfigured peer', async () => {
    const t = setup();
    const cfg = parseConfig(config());
    const pool = cfg.pools[0];
    t.announcer.start();
    t.announcer.setConfig(cfg);
    expect(t.announcer.activePeers()).toEqual(['192.0.2.1']); // no labels: only the peer without selectors
    t.establish('192.0.2.1');

    t.announcer.setBalancer('ns/a', ['203.0.113.5'], pool);
    t.announcer.setBalancer('ns/b', ['203.0.113.6'], pool);
    t.clock.advance(10);
    const sent = t.last('192.0.2.1').take();
    expect(nlri(sent).sort()).toEqual(['203.0.113.5/32', '203.0.113.6/32']);
    expect(updates(sent)[0].attributes.communities).toEqual([((64512 << 16) | 7) >>> 0]);
    // UPDATEs on the wire are counted (the End-of-RIB markers after OPEN are UPDATEs too).
    const counted = (await t.metrics.bgpUpdates.get()).values.find((v) => v.labels.peer === '192.0.2.1')?.value ?? 0;
    expect(counted).toBeGreaterThanOrEqual(updates(sent).length);
    expect((await t.metrics.bgpSessionUp.get()).values.find((v) => v.labels.peer === '192.0.2.1')?.value).toBe(1);
    expect((await t.metrics.bgpAnnouncedPrefixes.get()).values.find((v) => v.labels.peer === '192.0.2.1')?.value).toBe(2);

    // The node gets the label: the second peer's session starts, with the routes already there.
    t.announcer.nodeLabelsChanged({ rack: 'a' });
    expect(t.announcer.activePeers().sort()).toEqual(['192.0.2.1', '192.0.2.2']);
    t.establish('192.0.2.2');
    t.clock.advance(10);

    // Only peer 2's config changes: its session is replaced; peer 1 keeps its connection.
    t.announcer.setConfig(parseConfig(config(30)));
    expect(t.sockets.get('192.0.2.1')).toHaveLength(1);
    expect(t.last('192.0.2.1').closed).toBe(false);
    expect(t.sockets.get('192.0.2.2')![0].closed).toBe(true);
    expect(t.sockets.get('192.0.2.2')).toHaveLength(2);
    t.establish('192.0.2.2');
    t.clock.advance(10);

    // A Service goes: a withdrawal on the same sessions, no reset.
    t.announcer.deleteBalancer('ns/a', 'serviceDeleted');
    t.clock.advance(10);
    expect(withdrawn(t.last('192.0.2.1').take())).toEqual(['203.0.113.5/32']);
    expect(t.sockets.get('192.0.2.1')).toHaveLength(1);

    // The label goes away: only peer 2's session stops.
    t.announcer.nodeLabelsChanged({});
    expect(t.announcer.activePeers()).toEqual(['192.0.2.1']);
    expect(t.last('192.0.2.2').closed).toBe(true);
  });

  it('shutdown withdraws every route and sends Cease', async () => {
    const t = setup();
    const cfg = parseConfig(config());
    t.announcer.start();
    t.announcer.setConfig(cfg);
    t.establish('192.0.2.1');
    t.announcer.setBalancer('ns/a', ['203.0.113.5'], cfg.pools[0]);
    t.clock.advance(10);
    t.last('192.0.2.1').take();
    const done = t.announcer.shutdown();
    t.clock.advance(5000);
    await done;
    const sent = t.last('192.0.2.1').take();
    expect(withdrawn(sent)).toEqual(['203.0.113.5/32']);
    expect(sent.some((m) => m.type === 'notification' && m.code === 6)).toBe(true);
    expect(t.announcer.activePeers()).toEqual([]);
  });
});
