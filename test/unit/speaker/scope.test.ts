// The speaker's side of CR scoping (issue 14): layer2 answers only on an L2Advertisement's interfaces,
// the layer2 owner is chosen only among nodes its node selectors select (labels as the speaker Leases
// publish them), and BGP routes go only to the peers a BGPAdvertisement names, from selected nodes.
import { describe, expect, it } from 'vitest';
import { crObject } from '../config/config-issues.js';
import { layer2Selects } from '../../../config/advertisement-scope.js';
import { compileCrs } from '../../../config/crs/compile.js';
import { createLogger } from '../../../kube/log.js';
import { arpRequestFrame } from '../../../protocols/arp/frames.js';
import type { BgpMessage, UpdateMessage } from '../../../protocols/bgp/index.js';
import { ManualClock } from '../../../protocols/clock.js';
import { Announcer } from '../../../protocols/layer2/announcer.js';
import { parseMac } from '../../../protocols/rawio/mac.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { layer2Decision, layer2Owner, rankSpeakers } from '../../../speaker/layer2-owner.js';
import { encodeNodeLabels, leaseNodeLabels, NODE_LABELS_ANNOTATION } from '../../../speaker/node-labels.js';
import type { ServiceView } from '../../../speaker/service-view.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';
import { FakeIo } from '../layer2/fake-io.js';

const obj = crObject;

describe('layer2: interfaces', () => {
  const CLIENT = parseMac('02:00:00:00:00:99');
  const who = (target: string) => arpRequestFrame('192.0.2.10', CLIENT, target);

  it('answers and sends gratuitous frames only on the listed interfaces; a new list moves the VIP', () => {
    const io = new FakeIo();
    const a = new Announcer({ io, clock: new ManualClock(), garpCount: 1 });
    a.setInterfaces([
      { name: 'eth0', mac: parseMac('02:00:00:00:00:01') },
      { name: 'eth1', mac: parseMac('02:00:00:00:00:02') },
    ]);
    a.announce('203.0.113.10', ['eth1']);
    expect(io.port('eth0').sent).toHaveLength(0);
    expect(io.port('eth1').sent.length).toBeGreaterThan(0); // the gratuitous round
    io.port('eth1').sent.length = 0;
    io.port('eth0').deliver(who('203.0.113.10'));
    io.port('eth1').deliver(who('203.0.113.10'));
    expect(io.port('eth0').sent).toHaveLength(0);
    expect(io.port('eth1').sent).toHaveLength(1);
    expect(a.interfacesOf('203.0.113.10')).toEqual(['eth1']);

    a.announce('203.0.113.10', ['eth0']); // the advertisement now lists eth0
    expect(io.port('eth0').sent.length).toBeGreaterThan(0); // gratuitous on the new one
    io.port('eth0').sent.length = 0;
    io.port('eth1').sent.length = 0;
    io.port('eth0').deliver(who('203.0.113.10'));
    io.port('eth1').deliver(who('203.0.113.10'));
    expect(io.port('eth0').sent).toHaveLength(1);
    expect(io.port('eth1').sent).toHaveLength(0);

    a.announce('203.0.113.10'); // no list: every interface
    expect(a.interfacesOf('203.0.113.10')).toEqual(['eth0', 'eth1']);
    a.announce('203.0.113.11', ['wlan9']); // an owner without the listed interface answers nowhere
    expect(a.interfacesOf('203.0.113.11')).toEqual([]);
  });
});

describe('layer2: the owner among selected nodes', () => {
  const config = compileCrs([
    obj('IPAddressPool', 'web', { addresses: ['203.0.113.0/28'] }),
    obj('L2Advertisement', 'edge', { nodeSelectors: [{ matchLabels: { edge: 'true' } }] }),
  ]);
  const pool = config.pools[0];
  const svc: ServiceView = { key: 'ns/web', ips: ['203.0.113.1'], pool: 'web', externalTrafficPolicy: 'Cluster' };
  const eps = { readyByNode: new Map([['n1', 1]]) };
  const nodes = ['n1', 'n2', 'n3', 'n4'];

  it('every speaker computes the same owner, always a selected node, from the labels on the Leases', () => {
    const annotations: Record<string, Record<string, string>> = {
      n1: { [NODE_LABELS_ANNOTATION]: encodeNodeLabels({ edge: 'true', 'kubernetes.io/hostname': 'n1' }) },
      n2: { [NODE_LABELS_ANNOTATION]: encodeNodeLabels({ edge: 'false' }) },
      n3: { [NODE_LABELS_ANNOTATION]: encodeNodeLabels({ edge: 'true' }) },
      n4: {}, // no labels published yet: matches no selector asking for one
    };
    const nodeSelected = (n: string) => layer2Selects(pool, leaseNodeLabels(annotations[n]));
    const owner = layer2Owner(svc, eps, { liveSpeakers: nodes, nodeSelected });
    expect(owner.owner === 'n1' || owner.owner === 'n3').toBe(true);
    // The unrestricted ranking may prefer another node; the selected one wins among n1 and n3.
    const expected = rankSpeakers(nodes, svc.ips[0]).find((n) => n === 'n1' || n === 'n3');
    expect(owner.owner).toBe(expected);
    const answering = nodes.filter((self) => layer2Decision(svc, eps, { liveSpeakers: nodes, nodeSelected, self, fenced: false }) === null);
    expect(answering).toEqual([expected]);
    for (const n of ['n2', 'n4']) expect(layer2Decision(svc, eps, { liveSpeakers: nodes, nodeSelected, self: n, fenced: false })).toBe('nodeNotSelected');
    // No selected node live: nobody answers.
    expect(layer2Owner(svc, eps, { liveSpeakers: ['n2', 'n4'], nodeSelected })).toEqual({ owner: null, reason: 'noEligibleSpeakers' });
  });

  it('Lease label annotations: round trip, and garbage gives no labels', () => {
    expect(leaseNodeLabels({ [NODE_LABELS_ANNOTATION]: encodeNodeLabels({ b: '2', a: '1' }) })).toEqual({ a: '1', b: '2' });
    expect(encodeNodeLabels({ b: '2', a: '1' })).toBe('{"a":"1","b":"2"}');
    for (const bad of ['not json', '[1]', 'null', '{"a":1}']) expect(leaseNodeLabels({ [NODE_LABELS_ANNOTATION]: bad })).toEqual({});
    expect(leaseNodeLabels(undefined)).toEqual({});
  });
});

describe('BGP: peers and node selectors', () => {
  const updates = (msgs: BgpMessage[]): UpdateMessage[] => msgs.filter((m): m is UpdateMessage => m.type === 'update');
  const nlri = (msgs: BgpMessage[]): string[] => updates(msgs).flatMap((u) => u.nlri.map(String));
  const withdrawn = (msgs: BgpMessage[]): string[] => updates(msgs).flatMap((u) => u.withdrawn.map(String));
  const docs = (scoped: boolean) => [
    obj('IPAddressPool', 'pub', { addresses: ['203.0.113.0/24'] }),
    obj('IPAddressPool', 'rack', { addresses: ['198.51.100.0/24'] }),
    obj('BGPPeer', 'tor-a', { myASN: 64512, peerASN: 65001, peerAddress: '192.0.2.1' }),
    obj('BGPPeer', 'tor-b', { myASN: 64512, peerASN: 65001, peerAddress: '192.0.2.2' }),
    obj('BGPAdvertisement', 'pub', { ipAddressPools: ['pub'], ...(scoped ? { peers: ['tor-a'] } : {}) }),
    obj('BGPAdvertisement', 'rack', { ipAddressPools: ['rack'], nodeSelectors: [{ matchLabels: { rack: 'a' } }] }),
  ];

  function setup() {
    const clock = new ManualClock();
    const sockets = new Map<string, FakeSocket[]>();
    const announcer = new BgpAnnouncer({
      decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
      node: 'n1',
      clock,
      log: createLogger({ component: 'bgp', level: 'silent' }),
      connect: (peer) => {
        const s = new FakeSocket('192.0.2.10', peer.peerAddress);
        sockets.set(peer.peerAddress, [...(sockets.get(peer.peerAddress) ?? []), s]);
        return s;
      },
    });
    const last = (peer: string): FakeSocket => sockets.get(peer)!.at(-1)!;
    const establish = (peer: string): void => {
      const s = last(peer);
      s.connect();
      s.take();
      s.receive(routerOpen());
      s.receive({ type: 'keepalive' });
      s.take();
    };
    return { clock, sockets, announcer, last, establish };
  }

  it('routes go only to the named peers and only from selected nodes; a config change sends the difference, no reset', () => {
    const t = setup();
    const scoped = compileCrs(docs(true));
    t.announcer.start();
    t.announcer.setConfig(scoped);
    t.establish('192.0.2.1');
    t.establish('192.0.2.2');
    const [pub, rack] = scoped.pools;
    t.announcer.setBalancer('ns/pub', ['203.0.113.5'], pub);
    t.announcer.setBalancer('ns/rack', ['198.51.100.5'], rack);
    t.clock.advance(10);
    expect(nlri(t.last('192.0.2.1').take())).toEqual(['203.0.113.5/32']); // rack: this node has no rack=a label
    expect(nlri(t.last('192.0.2.2').take())).toEqual([]);

    t.announcer.nodeLabelsChanged({ rack: 'a' });
    t.clock.advance(10);
    expect(nlri(t.last('192.0.2.1').take())).toEqual(['198.51.100.5/32']);
    expect(nlri(t.last('192.0.2.2').take())).toEqual(['198.51.100.5/32']);

    // The peers field goes: tor-b gets pub too, on the same session.
    t.announcer.setConfig(compileCrs(docs(false)));
    t.clock.advance(10);
    expect(nlri(t.last('192.0.2.2').take())).toEqual(['203.0.113.5/32']);
    expect(t.sockets.get('192.0.2.2')).toHaveLength(1);
    // And back: withdrawn from tor-b only.
    t.announcer.setConfig(compileCrs(docs(true)));
    t.clock.advance(10);
    expect(withdrawn(t.last('192.0.2.2').take())).toEqual(['203.0.113.5/32']);
    expect(withdrawn(t.last('192.0.2.1').take())).toEqual([]);
    expect(t.sockets.get('192.0.2.1')).toHaveLength(1);

    t.announcer.deleteBalancer('ns/pub', 'serviceDeleted');
    t.clock.advance(10);
    expect(withdrawn(t.last('192.0.2.1').take())).toEqual(['203.0.113.5/32']);
  });
});
