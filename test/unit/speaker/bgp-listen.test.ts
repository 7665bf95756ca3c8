// The BGP announcer with a listener (`herald speaker --bgp-listen`): the listener learns exactly
// this node's peers (and their passwords); a connection in from a peer becomes its session (also
// while our own connection attempt hangs); with both connections up, RFC 4271 §6.8 keeps the one
// opened by the side with the higher BGP Identifier; shutdown closes the listener.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import type { BgpMessage, NotificationMessage, UpdateMessage } from '../../../protocols/bgp/index.js';
import type { ListenerPeer } from '../../../protocols/bgp/listener.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';

const CONFIG = `
peers:
- peer-address: 192.0.2.1
  peer-asn: 65001
  my-asn: 64512
  password: s3cret
- peer-address: 192.0.2.2
  peer-asn: 65001
  my-asn: 64512
  node-selectors:
  - match-labels:
      rack: b
address-pools:
- name: b
  protocol: bgp
  addresses: [203.0.113.0/24]
`;

const ME = '192.0.2.10';
const nlri = (msgs: BgpMessage[]): string[] => msgs.filter((m): m is UpdateMessage => m.type === 'update').flatMap((u) => u.nlri.map(String));
const notifications = (msgs: BgpMessage[]): NotificationMessage[] => msgs.filter((m): m is NotificationMessage => m.type === 'notification');

function setup() {
  const clock = new ManualClock();
  const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
  const outgoing = new Map<string, FakeSocket[]>();
  const listener = {
    peers: [] as ListenerPeer[],
    closed: false,
    setPeers(peers: ListenerPeer[]) {
      this.peers = peers;
    },
    close() {
      this.closed = true;
      return Promise.resolve();
    },
  };
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock,
    metrics,
    listener,
    log: createLogger({ component: 'bgp', level: 'silent' }),
    connect: (peer) => {
      const s = new FakeSocket(ME, peer.peerAddress);
      outgoing.set(peer.peerAddress, [...(outgoing.get(peer.peerAddress) ?? []), s]);
      return s;
    },
  });
  /** The router connects in: what the real listener does with a connection from `from`. */
  const incoming = (from: string): FakeSocket => {
    const s = new FakeSocket(ME, from);
    const p = listener.peers.find((x) => x.address === from);
    if (!p) throw new Error(`the listener does not know ${from}`);
    p.accept(s);
    return s;
  };
  const cfg = parseConfig(CONFIG);
  announcer.start();
  announcer.setConfig(cfg);
  return { clock, metrics, announcer, listener, outgoing, incoming, pool: cfg.pools[0] };
}

describe('BgpAnnouncer with a listener', () => {
  it("gives the listener this node's peers with their passwords, following labels", () => {
    const t = setup();
    expect(t.listener.peers.map((p) => [p.address, p.password])).toEqual([['192.0.2.1', 's3cret']]);
    t.announcer.nodeLabelsChanged({ rack: 'b' });
    expect(t.listener.peers.map((p) => [p.address, p.password]).sort()).toEqual([
      ['192.0.2.1', 's3cret'],
      ['192.0.2.2', undefined],
    ]);
    t.announcer.nodeLabelsChanged({});
    expect(t.listener.peers.map((p) => p.address)).toEqual(['192.0.2.1']);
  });

  it('a connection in becomes the session while ours hangs; routes and UPDATE counts flow on it', async () => {
    const t = setup();
    t.announcer.setBalancer('ns/a', ['203.0.113.5'], t.pool);
    const ours = t.outgoing.get('192.0.2.1')![0]; // never connects (the router does not answer SYNs)
    const theirs = t.incoming('192.0.2.1');
    expect(ours.closed).toBe(true); // no BGP spoken on it yet: dropped for the router's connection
    expect(theirs.take().map((m) => m.type)).toEqual(['open']);
    theirs.receive(routerOpen());
    theirs.receive({ type: 'keepalive' });
    t.clock.advance(10);
    expect(nlri(theirs.take())).toEqual(['203.0.113.5/32']);
    expect((await t.metrics.bgpSessionUp.get()).values.find((v) => v.labels.peer === '192.0.2.1')?.value).toBe(1);
    expect((await t.metrics.bgpUpdates.get()).values.find((v) => v.labels.peer === '192.0.2.1')?.value).toBeGreaterThanOrEqual(1);
  });

  for (const [routerId, survivor] of [
    ['192.0.2.200', 'incoming'],
    ['192.0.2.3', 'outgoing'],
  ] as const) {
    it(`collision: both connections reach OPEN; router id ${routerId} vs ours ${ME} keeps the ${survivor} one`, () => {
      const t = setup();
      t.announcer.setBalancer('ns/a', ['203.0.113.5'], t.pool);
      const ours = t.outgoing.get('192.0.2.1')![0];
      ours.connect();
      expect(ours.take().map((m) => m.type)).toEqual(['open']);
      const theirs = t.incoming('192.0.2.1');
      expect(theirs.take().map((m) => m.type)).toEqual(['open']);
      // The router answers on both; the OPENs carry its identifier.
      ours.receive(routerOpen({ id: routerId }));
      theirs.receive(routerOpen({ id: routerId }));
      const [win, lose] = survivor === 'incoming' ? [theirs, ours] : [ours, theirs];
      expect(lose.closed).toBe(true);
      expect(notifications(lose.take())).toMatchObject([{ code: 6, subcode: 7 }]); // Cease / Connection Collision Resolution
      expect(win.closed).toBe(false);
      win.take();
      win.receive({ type: 'keepalive' });
      t.clock.advance(10);
      expect(nlri(win.take())).toEqual(['203.0.113.5/32']);
      expect(t.outgoing.get('192.0.2.1')).toHaveLength(1);
    });
  }

  it('an incoming connection while established is closed with Cease (collision resolution)', () => {
    const t = setup();
    const ours = t.outgoing.get('192.0.2.1')![0];
    ours.connect();
    ours.receive(routerOpen());
    ours.receive({ type: 'keepalive' });
    ours.take();
    const late = t.incoming('192.0.2.1');
    expect(late.closed).toBe(true);
    expect(notifications(late.take())).toMatchObject([{ code: 6, subcode: 7 }]);
    expect(ours.closed).toBe(false);
  });

  it('shutdown closes the listener', async () => {
    const t = setup();
    await t.announcer.shutdown();
    expect(t.listener.closed).toBe(true);
  });
});
