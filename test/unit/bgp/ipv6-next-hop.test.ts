// IPv6 routes over an IPv4 session: the next hop is the global IPv6 address of the interface that
// holds the session's IPv4 address; link-local and loopback addresses never qualify. The session
// refuses such routes, logged once per change (not per connection), when that interface has none.
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ipv6NextHopFor } from '../../../protocols/bgp/ipv6-next-hop.js';
import { BgpSession, type UpdateMessage } from '../../../protocols/bgp/index.js';
import { ManualClock } from '../../../protocols/clock.js';
import { FakeSocket, routerOpen } from './fake-socket.js';

const v4 = (address: string): NetworkInterfaceInfo => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:01', internal: false, cidr: `${address}/24` });
const v6 = (address: string, scopeid = 0): NetworkInterfaceInfo => ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:01', internal: false, cidr: `${address}/64`, scopeid });

describe('ipv6NextHopFor', () => {
  const interfaces = {
    lo: [v4('127.0.0.1'), { ...v6('::1'), internal: true }],
    eth0: [v4('192.0.2.12'), v4('192.0.2.112'), v6('fe80::1', 2), v6('2001:db8:0:1::c')],
    eth1: [v4('198.51.100.5'), v6('fe80::2', 3)],
  };
  it('finds the global IPv6 address beside the IPv4 address (also a secondary one)', () => {
    expect(ipv6NextHopFor('192.0.2.12', interfaces)).toEqual({ interface: 'eth0', address: '2001:db8:0:1::c' });
    expect(ipv6NextHopFor('192.0.2.112', interfaces)).toEqual({ interface: 'eth0', address: '2001:db8:0:1::c' });
  });
  it('names the interface when it has only a link-local address, and nothing for an unknown address', () => {
    expect(ipv6NextHopFor('198.51.100.5', interfaces)).toEqual({ interface: 'eth1' });
    expect(ipv6NextHopFor('203.0.113.1', interfaces)).toEqual({});
  });
});

describe('BgpSession: IPv6 routes over an IPv4 session', () => {
  function setup(found: () => { interface?: string; address?: string }) {
    const clock = new ManualClock();
    const sockets: FakeSocket[] = [];
    const errors: string[] = [];
    const session = new BgpSession(
      { localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1', connectRetry: { minMs: 10, maxMs: 10 } },
      { clock, random: () => 0.5, ipv6NextHop: found, connect: () => (sockets.push(new FakeSocket('192.0.2.10', '192.0.2.1')), sockets[sockets.length - 1]) },
    );
    session.on('error', (e) => errors.push(e.message));
    const establish = (): UpdateMessage[] => {
      if (session.state === 'Idle') session.start();
      const s = sockets[sockets.length - 1];
      s.connect();
      s.take();
      s.receive(routerOpen());
      s.receive({ type: 'keepalive' });
      return s.take().filter((m): m is UpdateMessage => m.type === 'update' && m.attributes.mpReach !== undefined);
    };
    const drop = (): void => {
      sockets[sockets.length - 1].close();
      clock.advance(1000);
    };
    return { session, errors, establish, drop };
  }

  it('sends MP_REACH_NLRI (AFI 2) with the interface global address as next hop', () => {
    const t = setup(() => ({ interface: 'eth0', address: '2001:db8:0:1::10' }));
    t.session.announce('2001:db8:203::5');
    const [u] = t.establish();
    expect(u.attributes.mpReach).toMatchObject({ afi: 2, safi: 1, nextHop: '2001:db8:0:1::10' });
    expect(u.attributes.mpReach?.nlri.map(String)).toEqual(['2001:db8:203::5/128']);
    expect(t.errors).toEqual([]);
  });

  it('refuses without a global address: one error per change, not per reconnect; announces once the address appears', () => {
    let address: string | undefined;
    const t = setup(() => ({ interface: 'eth0', ...(address ? { address } : {}) }));
    t.session.announce('2001:db8:203::5');
    t.session.announce('2001:db8:203::6', { communities: [1] });
    expect(t.establish()).toEqual([]);
    t.drop();
    expect(t.establish()).toEqual([]);
    expect(t.errors).toEqual(['cannot announce ipv6 routes: no global IPv6 next hop for IPv6 routes over this IPv4 session: interface eth0 (carrying the session from 192.0.2.10) has no global IPv6 address']);
    address = '2001:db8:0:1::10';
    t.drop();
    expect(t.establish().flatMap((u) => u.attributes.mpReach?.nlri.map(String))).toEqual(['2001:db8:203::5/128', '2001:db8:203::6/128']);
    address = undefined;
    t.drop();
    t.establish();
    expect(t.errors).toHaveLength(2);
  });
});
