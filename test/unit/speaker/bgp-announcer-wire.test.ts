// What the ConfigMap says is what goes on the wire (issue 12, items 4 and 5): the speaker connects
// with each peer's source address, TCP-MD5 key and TTL (1 for eBGP, 255 with ebgp-multihop, the
// system default for iBGP); its OPEN carries the peer's router-id and hold time; its UPDATEs carry
// the pool's aggregation, communities, large communities and (iBGP only) local-pref; and IPv6 VIPs
// go over an IPv4 session with the session interface's global IPv6 address as next hop.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import { formatIPv4, type BgpMessage, type OpenMessage, type UpdateMessage } from '../../../protocols/bgp/index.js';
import type { ConnectOptions } from '../../../protocols/bgp/transport.js';
import { BgpAnnouncer, DEFAULT_RESTART_TIME, gracefulRestartTime, peerConnectOptions } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';

const CONFIG = `
peers:
- peer-address: 192.0.2.1
  peer-asn: 65001
  my-asn: 64512
- peer-address: 198.51.100.1
  peer-asn: 65001
  my-asn: 64512
  ebgp-multihop: true
  source-address: 192.0.2.10
  password: s3cret
  router-id: 198.51.100.77
  hold-time: 9s
  keepalive-time: 2s
- peer-address: 192.0.2.3
  peer-asn: 64512
  my-asn: 64512
bgp-communities:
  tag: "64512:100"
address-pools:
- name: b
  protocol: bgp
  addresses: [203.0.113.0/24, 2001:db8:203::/120]
  bgp-advertisements:
  - aggregation-length: 28
    aggregation-length-v6: 124
    localpref: 250
    communities: [tag, "65001:7", "64512:1:2"]
`;

const updates = (msgs: BgpMessage[]): UpdateMessage[] => msgs.filter((m): m is UpdateMessage => m.type === 'update' && (m.nlri.length > 0 || m.attributes.mpReach !== undefined));

function setup(ipv6: string | undefined) {
  const clock = new ManualClock();
  const dialed: ConnectOptions[] = [];
  const sockets = new Map<string, FakeSocket>();
  const errors: string[] = [];
  const log = createLogger({ component: 'bgp', level: 'silent' });
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock,
    log: Object.assign(Object.create(log) as typeof log, { warn: (o: { err?: Error }) => o.err && errors.push(o.err.message) }),
    transport: (o) => {
      dialed.push(o);
      const s = new FakeSocket('192.0.2.10', o.peerAddress);
      sockets.set(o.peerAddress, s);
      return s;
    },
    ipv6NextHop: (local) => (local === '192.0.2.10' ? { interface: 'eth0', ...(ipv6 ? { address: ipv6 } : {}) } : {}),
  });
  /** Connect, play the router's OPEN and KEEPALIVE; what the speaker sent up to Established. */
  const establish = (peer: string, as = 65001): BgpMessage[] => {
    const s = sockets.get(peer)!;
    s.connect();
    const sent = s.take();
    s.receive(routerOpen({ as }));
    s.receive({ type: 'keepalive' });
    return [...sent, ...s.take()];
  };
  return { clock, dialed, sockets, announcer, establish, errors };
}

describe('speaker BGP sessions follow the ConfigMap on the wire', () => {
  it('peerConnectOptions: TTL 1 for eBGP, 255 with ebgp-multihop, system default for iBGP; source address and password', () => {
    const [direct, multihop, ibgp] = parseConfig(CONFIG).peers;
    expect(peerConnectOptions(direct)).toEqual({ peerAddress: '192.0.2.1', peerPort: 179, ttl: 1 });
    expect(peerConnectOptions(multihop)).toEqual({ peerAddress: '198.51.100.1', peerPort: 179, sourceAddress: '192.0.2.10', password: 's3cret', ttl: 255 });
    expect(peerConnectOptions(ibgp)).toEqual({ peerAddress: '192.0.2.3', peerPort: 179 });
    // Without the socket addon the TTL is left to the system rather than failing the connect.
    expect(peerConnectOptions(multihop, false).ttl).toBeUndefined();
  });

  it('dials each peer with its options; OPEN has the router-id and hold time; UPDATEs carry aggregation, communities, local-pref on iBGP only, IPv6 over IPv4', () => {
    const t = setup('2001:db8:0:1::10');
    const cfg = parseConfig(CONFIG);
    t.announcer.start();
    t.announcer.setConfig(cfg);
    expect(t.dialed.map((o) => [o.peerAddress, o.ttl, o.password, o.sourceAddress])).toEqual([
      ['192.0.2.1', 1, undefined, undefined],
      ['198.51.100.1', 255, 's3cret', '192.0.2.10'],
      ['192.0.2.3', undefined, undefined, undefined],
    ]);
    t.announcer.setBalancer('ns/a', ['203.0.113.5', '2001:db8:203::5'], cfg.pools[0]);

    const mh = t.establish('198.51.100.1');
    const open = mh.find((m): m is OpenMessage => m.type === 'open')!;
    expect(formatIPv4(open.bgpIdentifier)).toBe('198.51.100.77');
    expect(open.holdTime).toBe(9);
    expect(open.capabilities).toContainEqual({ kind: 'multiprotocol', afi: 2, safi: 1 });
    // Keepalive every 2 s as configured (not hold/3 = 3 s).
    t.clock.advance(10);
    t.sockets.get('198.51.100.1')!.take();
    t.clock.advance(2000);
    expect(t.sockets.get('198.51.100.1')!.take().filter((m) => m.type === 'keepalive')).toHaveLength(1);

    const community = (a: number, b: number): number => ((a << 16) | b) >>> 0;
    for (const [peer, as, ibgp] of [['192.0.2.1', 65001, false], ['192.0.2.3', 64512, true]] as const) {
      const sent = updates(t.establish(peer, as));
      const v4 = sent.find((u) => u.nlri.length > 0)!;
      const v6 = sent.find((u) => u.attributes.mpReach !== undefined)!;
      expect(v4.nlri.map(String)).toEqual(['203.0.113.0/28']);
      expect(v4.attributes.communities).toEqual([community(64512, 100), community(65001, 7)]);
      expect(v4.attributes.largeCommunities).toEqual([{ globalAdmin: 64512, localData1: 1, localData2: 2 }]);
      expect(v4.attributes.localPref).toBe(ibgp ? 250 : undefined);
      expect(v6.attributes.mpReach?.nlri.map(String)).toEqual(['2001:db8:203::/124']);
      expect(v6.attributes.mpReach?.nextHop).toBe('2001:db8:0:1::10');
      expect(v6.attributes.localPref).toBe(ibgp ? 250 : undefined);
    }
  });

  it('BGPPeer connectTime, enableGracefulRestart and disableMP (ConfigMap connect-time, enable-graceful-restart, disable-mp) on the wire', () => {
    const t = setup('2001:db8:0:1::10');
    const cfg = parseConfig(`
peers:
- {peer-address: 192.0.2.1, peer-asn: 65001, my-asn: 64512, connect-time: 7s, enable-graceful-restart: true, disable-mp: true}
- {peer-address: 192.0.2.3, peer-asn: 65001, my-asn: 64512}
address-pools:
- {name: b, protocol: bgp, addresses: [203.0.113.0/24, 2001:db8:203::/120]}
`);
    t.announcer.start();
    t.announcer.setConfig(cfg);
    t.announcer.setBalancer('ns/a', ['203.0.113.5', '2001:db8:203::5'], cfg.pools[0]);
    // connectTime: a failed attempt is retried after exactly 7 s (no back-off, no jitter), again and again.
    const first = t.sockets.get('192.0.2.1')!;
    first.close();
    t.clock.advance(6999);
    expect(t.sockets.get('192.0.2.1')).toBe(first);
    t.clock.advance(1);
    const second = t.sockets.get('192.0.2.1')!;
    expect(second).not.toBe(first);
    second.close();
    t.clock.advance(7000);
    expect(t.sockets.get('192.0.2.1')).not.toBe(second);

    const sent = t.establish('192.0.2.1');
    const open = sent.find((m): m is OpenMessage => m.type === 'open')!;
    // disableMP: IPv4 unicast only on a session to an IPv4 address; graceful restart offered (120 s, no --graceful-restart).
    expect(open.capabilities.filter((c) => c.kind === 'multiprotocol')).toEqual([{ kind: 'multiprotocol', afi: 1, safi: 1 }]);
    expect(open.capabilities).toContainEqual(expect.objectContaining({ kind: 'graceful-restart', restartTime: 120, families: [{ afi: 1, safi: 1, forwardingState: true }] }));
    const v4only = updates(sent);
    expect(v4only.some((u) => u.attributes.mpReach !== undefined)).toBe(false);
    expect(v4only.flatMap((u) => u.nlri.map(String))).toEqual(['203.0.113.5/32']);
    // The other peer: both families on one session, no graceful restart.
    const other = t.establish('192.0.2.3');
    const otherOpen = other.find((m): m is OpenMessage => m.type === 'open')!;
    expect(otherOpen.capabilities.filter((c) => c.kind === 'multiprotocol')).toHaveLength(2);
    expect(otherOpen.capabilities.some((c) => c.kind === 'graceful-restart')).toBe(false);
    expect(updates(other).some((u) => u.attributes.mpReach !== undefined)).toBe(true);
  });

  it('graceful restart: --graceful-restart offers it to every peer with its time; enableGracefulRestart adds it for one peer (120 s)', () => {
    const peer = parseConfig('peers: [{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2}]').peers[0];
    expect(gracefulRestartTime(undefined, peer)).toBeUndefined();
    expect(gracefulRestartTime(300, peer)).toBe(300);
    expect(gracefulRestartTime(undefined, { ...peer, enableGracefulRestart: true })).toBe(DEFAULT_RESTART_TIME);
    expect(gracefulRestartTime(300, { ...peer, enableGracefulRestart: true })).toBe(300);
  });

  it('refuses IPv6 routes over IPv4 with one log line when the session interface has no global IPv6 address', () => {
    const t = setup(undefined);
    const cfg = parseConfig(CONFIG);
    t.announcer.start();
    t.announcer.setConfig(cfg);
    t.announcer.setBalancer('ns/a', ['203.0.113.5', '2001:db8:203::5'], cfg.pools[0]);
    const sent = updates(t.establish('192.0.2.1'));
    expect(sent.map((u) => u.nlri.map(String))).toEqual([['203.0.113.0/28']]);
    t.announcer.setBalancer('ns/b', ['2001:db8:203::25'], cfg.pools[0]);
    t.clock.advance(10);
    expect(t.errors).toEqual([expect.stringContaining('interface eth0 (carrying the session from 192.0.2.10) has no global IPv6 address')]);
  });
});
