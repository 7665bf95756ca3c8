// The speaker with an unnumbered peer (`interface: eth1`): no session until the router link reports
// the router's link-local address; then a session to fe80::x%eth1 offering Extended Next Hop; a new
// router address or a lost router restarts only that peer's session; shutdown closes the link.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import type { OpenMessage } from '../../../protocols/bgp/index.js';
import type { StartRouterLink } from '../../../protocols/bgp/unnumbered.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { FakeSocket } from '../bgp/fake-socket.js';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const sockets: FakeSocket[] = [];
  const links: Array<{ ifname: string; sendAdvertisements: boolean; onRouter: (ll: string | undefined) => void; closed: boolean }> = [];
  const startRouterLink: StartRouterLink = (o) => {
    const l = { ifname: o.ifname, sendAdvertisements: o.sendAdvertisements, onRouter: o.onRouter, closed: false };
    links.push(l);
    return { router: () => undefined, close: () => void (l.closed = true) };
  };
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock: new ManualClock(),
    log: createLogger({ component: 'bgp', level: 'info', destination: sink }),
    startRouterLink,
    connect: (peer) => {
      const s = new FakeSocket('fe80::1', peer.peerAddress);
      sockets.push(s);
      return s;
    },
  });
  announcer.start();
  announcer.setConfig(parseConfig('peers:\n- {my-asn: 64512, peer-asn: 65000, interface: eth1}\n- {my-asn: 64512, peer-asn: 65000, peer-address: 192.0.2.1}\n'));
  return { announcer, sockets, links, lines };
}

describe('speaker: unnumbered peer (interface)', () => {
  it('starts the router link (sending RAs), and connects to fe80::x%eth1 with Extended Next Hop once the router is known', () => {
    const t = setup();
    expect(t.links).toMatchObject([{ ifname: 'eth1', sendAdvertisements: true, closed: false }]);
    // Only the numbered peer has a session so far.
    expect(t.sockets.map((s) => s.remoteAddress)).toEqual(['192.0.2.1']);
    t.links[0].onRouter('fe80::2');
    expect(t.sockets.map((s) => s.remoteAddress)).toEqual(['192.0.2.1', 'fe80::2%eth1']);
    const s = t.sockets[1];
    s.connect();
    const [open] = s.take() as OpenMessage[];
    expect(open.capabilities).toContainEqual({ kind: 'extended-next-hop', families: [{ afi: 1, safi: 1, nextHopAfi: 2 }] });
  });

  it('a new router address restarts only that session; a lost router ends it; shutdown closes the link', async () => {
    const t = setup();
    t.links[0].onRouter('fe80::2');
    const [numbered, first] = t.sockets;
    t.links[0].onRouter('fe80::3');
    expect(t.sockets.map((s) => s.remoteAddress)).toEqual(['192.0.2.1', 'fe80::2%eth1', 'fe80::3%eth1']);
    expect(first.ended || first.destroyed).toBe(true);
    expect(numbered.ended || numbered.destroyed).toBe(false);
    t.links[0].onRouter(undefined);
    expect(t.sockets[2].ended || t.sockets[2].destroyed).toBe(true);
    expect(t.sockets).toHaveLength(3);
    expect(t.lines.some((l) => l.event === 'unnumberedRouter' && l.reason === 'no router')).toBe(true);
    await t.announcer.shutdown();
    expect(t.links[0].closed).toBe(true);
  });
});
