import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import {
  BgpSession,
  endOfRibFamily,
  parseIPv4,
  shutdownReason,
  toBuffer,
  type BgpMessage,
  type BgpSessionConfig,
  type NotificationMessage,
  type OpenMessage,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';
import { fakeSession, FakeSocket, routerOpen } from './fake-socket.js';

function setup(cfg: Partial<BgpSessionConfig> = {}, opts: { random?: () => number; local?: string; remote?: string } = {}) {
  const { clock, sockets, session } = fakeSession(cfg, opts.random ? { random: opts.random } : {}, opts);
  const states: string[] = [];
  const notifications: Array<{ direction: string; code: number; subcode: number; reason?: string }> = [];
  session.on('state', (_from, to) => states.push(to));
  session.on('notification', (n) => notifications.push(n));
  const last = (): FakeSocket => sockets[sockets.length - 1];
  /** Connect, exchange OPEN and KEEPALIVE; returns what the session sent after Established. */
  const establish = (open: OpenMessage = routerOpen()): BgpMessage[] => {
    if (session.state === 'Idle') session.start();
    const s = last();
    s.connect();
    s.take();
    s.receive(open);
    s.receive({ type: 'keepalive' });
    expect(session.state).toBe('Established');
    return s.take();
  };
  return { clock, sockets, session, states, notifications, last, establish };
}

const updates = (msgs: BgpMessage[]): UpdateMessage[] => msgs.filter((m): m is UpdateMessage => m.type === 'update');
const routes = (msgs: BgpMessage[]): string[] => updates(msgs).flatMap((u) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map(String));
const notification = (msgs: BgpMessage[]): NotificationMessage | undefined => msgs.find((m): m is NotificationMessage => m.type === 'notification');

describe('BgpSession handshake', () => {
  it('goes Idle -> Connect -> OpenSent -> OpenConfirm -> Established, sending OPEN, KEEPALIVE and End-of-RIB', () => {
    const t = setup();
    let established = 0;
    t.session.on('established', () => established++);
    t.session.start();
    expect(t.session.state).toBe('Connect');
    const s = t.last();
    s.connect();
    expect(t.session.state).toBe('OpenSent');
    const [open] = s.take() as OpenMessage[];
    expect(open).toMatchObject({ type: 'open', myAs: 64512, holdTime: 90, bgpIdentifier: parseIPv4('192.0.2.10') });
    expect(open.capabilities).toEqual(
      expect.arrayContaining([{ kind: 'multiprotocol', afi: 1, safi: 1 }, { kind: 'multiprotocol', afi: 2, safi: 1 }, { kind: 'four-octet-as', asn: 64512 }, { kind: 'route-refresh' }]),
    );
    s.receive(routerOpen());
    expect(t.session.state).toBe('OpenConfirm');
    expect(s.take()).toEqual([{ type: 'keepalive' }]);
    s.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
    expect(updates(s.take()).map(endOfRibFamily)).toEqual(['ipv4', 'ipv6']);
    expect(established).toBe(1);
    expect(t.states).toEqual(['Connect', 'OpenSent', 'OpenConfirm', 'Established']);
  });

  it('uses AS_TRANS and the 4-octet capability for a 4-octet local AS, and advertises graceful restart when configured', () => {
    const t = setup({ localAs: 4200000001, gracefulRestart: { restartTime: 120 } });
    t.session.start();
    t.last().connect();
    const [open] = t.last().take() as OpenMessage[];
    expect(open.myAs).toBe(23456);
    expect(open.capabilities).toContainEqual({ kind: 'four-octet-as', asn: 4200000001 });
    expect(open.capabilities).toContainEqual({
      kind: 'graceful-restart',
      restartState: false,
      notification: false,
      restartTime: 120,
      families: [
        { afi: 1, safi: 1, forwardingState: true },
        { afi: 2, safi: 1, forwardingState: true },
      ],
    });
  });

  it('derives the router ID from the node name when there is no IPv4 address', () => {
    const a = setup({ peerAddress: '2001:db8::1', nodeName: 'node-a' }, { local: '2001:db8::10', remote: '2001:db8::1' });
    a.session.start();
    a.last().connect();
    const [open] = a.last().take() as OpenMessage[];
    const b = setup({ peerAddress: '2001:db8::1', nodeName: 'node-a' }, { local: '2001:db8::10', remote: '2001:db8::1' });
    b.session.start();
    b.last().connect();
    expect((b.last().take()[0] as OpenMessage).bgpIdentifier).toBe(open.bgpIdentifier);
    expect(open.bgpIdentifier).not.toBe(0);
  });
});

describe('BgpSession OPEN checks', () => {
  const cases: Array<[string, OpenMessage | Buffer, number, number]> = [
    ['bad peer AS', routerOpen({ as: 65099 }), 2, 2],
    ['hold time 1', routerOpen({ hold: 1 }), 2, 6],
    ['hold time 2', routerOpen({ hold: 2 }), 2, 6],
    ['zero BGP identifier', routerOpen({ id: '0.0.0.0' }), 2, 3],
    [
      'version 3',
      (() => {
        const b = toBuffer(routerOpen());
        b[19] = 3;
        return b;
      })(),
      2,
      1,
    ],
  ];
  for (const [name, open, code, subcode] of cases) {
    it(`${name}: NOTIFICATION ${code}/${subcode}, close, Idle, then reconnect`, () => {
      const t = setup();
      t.session.start();
      const s = t.last();
      s.connect();
      s.take();
      s.receive(open);
      expect(notification(s.take())).toMatchObject({ code, subcode });
      expect(s.closed).toBe(true);
      expect(t.session.state).toBe('Idle');
      t.clock.advance(1000);
      expect(t.sockets.length).toBe(2);
      expect(t.session.state).toBe('Connect');
    });
  }

  it('iBGP peer with our own identifier: 2/3', () => {
    const t = setup({ peerAs: 64512 });
    t.session.start();
    t.last().connect();
    t.last().take();
    t.last().receive(routerOpen({ as: 64512, id: '192.0.2.10' }));
    expect(notification(t.last().take())).toMatchObject({ code: 2, subcode: 3 });
  });

  it('an UPDATE before Established is an FSM error (5/2 in OpenConfirm)', () => {
    const t = setup();
    t.session.start();
    t.last().connect();
    t.last().receive(routerOpen());
    t.last().take();
    t.last().receive({ type: 'update', withdrawn: [], attributes: {}, nlri: [] });
    expect(notification(t.last().take())).toMatchObject({ code: 5, subcode: 2 });
    expect(t.session.state).toBe('Idle');
  });

  it('a bad marker from the router is 1/1', () => {
    const t = setup();
    t.establish();
    const b = toBuffer({ type: 'keepalive' });
    b[0] = 0;
    t.last().receive(b);
    expect(notification(t.last().take())).toMatchObject({ code: 1, subcode: 1 });
  });

  it('a treat-as-withdraw UPDATE from the router does not reset the session', () => {
    const t = setup();
    t.establish();
    // ORIGIN 5 (invalid) -> treat-as-withdraw
    const bad = Buffer.from('ffffffffffffffffffffffffffffffff0000020000000e40010105400200400304c000020120cb00710a', 'hex');
    bad.writeUInt16BE(bad.length, 16);
    t.last().receive(bad);
    expect(t.session.state).toBe('Established');
    expect(t.last().take()).toEqual([]);
  });
});

describe('BgpSession timers', () => {
  it('negotiates the smaller hold time, sends keepalives at a third of it, and enforces it on receive', () => {
    const t = setup();
    t.establish(routerOpen({ hold: 30 }));
    expect(t.session.negotiation?.holdTime).toBe(30);
    const s = t.last();
    t.clock.advance(10_000);
    expect(s.take()).toEqual([{ type: 'keepalive' }]);
    t.clock.advance(19_000);
    s.receive({ type: 'keepalive' }); // resets the hold timer
    t.clock.advance(29_000);
    expect(t.session.state).toBe('Established');
    t.clock.advance(1_000);
    // 30 s of silence from the router.
    expect(notification(s.take())).toMatchObject({ code: 4, subcode: 0 });
    expect(s.closed).toBe(true);
    expect(t.session.state).toBe('Idle');
    t.clock.advance(1_000);
    expect(t.sockets.length).toBe(2);
    expect(t.session.state).toBe('Connect');
  });

  it('hold time 0 means no keepalives and no hold timer', () => {
    const t = setup();
    t.establish(routerOpen({ hold: 0 }));
    t.clock.advance(3_600_000);
    expect(t.last().take()).toEqual([]);
    expect(t.session.state).toBe('Established');
  });

  it('honours a configured keepalive time below hold/3', () => {
    const t = setup({ keepaliveTime: 5 });
    t.establish(routerOpen({ hold: 90 }));
    t.clock.advance(15_000);
    expect(t.last().take()).toHaveLength(3);
  });

  it('retries connecting with exponential back-off 1 s .. 2 min, and forgets failed connects once established', () => {
    const t = setup();
    t.session.start();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      t.last().close(); // connection refused
      expect(t.session.state).toBe('Active');
      const d = t.clock.nextDue()!;
      delays.push(d);
      t.clock.advance(d);
      expect(t.session.state).toBe('Connect');
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000]);
    t.establish();
    t.last().receive({ type: 'notification', code: 6, subcode: 4, data: Buffer.alloc(0) });
    expect(t.session.state).toBe('Idle');
    expect(t.clock.nextDue()).toBe(1000);
  });

  it('jitters the back-off with the injected random source', () => {
    for (const [r, expected] of [
      [0, [1000, 1500, 3000]],
      [0.999, [1250, 2499, 4998]],
    ] as const) {
      const t = setup({}, { random: () => r });
      t.session.start();
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        t.last().close();
        delays.push(t.clock.nextDue()!);
        t.clock.advance(delays[i]);
      }
      expect(delays).toEqual(expected);
    }
  });

  it('treats a synchronous connect failure like a refused connection', () => {
    const clock = new ManualClock();
    let calls = 0;
    const session = new BgpSession(
      { localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1' },
      {
        clock,
        connect: () => {
          calls++;
          throw new Error('EADDRNOTAVAIL');
        },
        random: () => 0.5,
      },
    );
    session.start();
    expect(session.state).toBe('Active');
    clock.advance(1000);
    expect(calls).toBe(2);
  });
});

describe('BgpSession routes', () => {
  it('coalesces many announce() calls into few packed UPDATEs', () => {
    const t = setup();
    t.establish();
    for (let i = 0; i < 500; i++) t.session.announce(`198.18.${i >> 8}.${i & 0xff}`, { communities: [0xfde80001] });
    expect(t.last().take()).toEqual([]);
    t.clock.advance(4);
    expect(t.last().take()).toEqual([]);
    t.clock.advance(1);
    const sent = updates(t.last().take());
    expect(sent).toHaveLength(1);
    expect(sent[0].nlri).toHaveLength(500);
    expect(sent[0].attributes).toMatchObject({ origin: 0, asPath: [{ type: 2, asns: [64512] }], nextHop: '192.0.2.10', communities: [0xfde80001] });
    expect(sent[0].attributes.localPref).toBeUndefined();

    for (let i = 0; i < 2000; i++) t.session.withdraw(`198.18.${i >> 8}.${i & 0xff}`);
    t.clock.advance(5);
    const w = updates(t.last().take());
    expect(w).toHaveLength(1);
    expect(w[0].withdrawn).toHaveLength(500);
  });

  it('sends nothing for a route announced and withdrawn within one window; groups by attributes', () => {
    const t = setup({ peerAs: 64512 });
    t.establish(routerOpen({ as: 64512 }));
    t.session.announce('203.0.113.1/32');
    t.session.withdraw('203.0.113.1/32');
    t.session.announce('203.0.113.2/32', { localPref: 200 });
    t.session.announce('203.0.113.3/32', { localPref: 200 });
    t.session.announce('203.0.113.4/32', { nextHop: '192.0.2.99' });
    t.clock.advance(5);
    const sent = updates(t.last().take());
    expect(sent.map((u) => u.nlri.map(String))).toEqual([['203.0.113.2/32', '203.0.113.3/32'], ['203.0.113.4/32']]);
    expect(sent[0].attributes).toMatchObject({ asPath: [], localPref: 200, nextHop: '192.0.2.10' });
    expect(sent[1].attributes).toMatchObject({ localPref: 100, nextHop: '192.0.2.99' });
  });

  it('announces IPv6 /128s through MP_REACH_NLRI with the local IPv6 (and link-local) next hop', () => {
    const t = setup({ peerAddress: '2001:db8::1', nextHopLinkLocal: 'fe80::10' }, { local: '2001:db8::10', remote: '2001:db8::1' });
    t.session.announce('2001:db8:ffff::1');
    const sent = updates(t.establish());
    expect(sent[0].attributes.mpReach).toMatchObject({ afi: 2, safi: 1, nextHop: '2001:db8::10', nextHopLinkLocal: 'fe80::10' });
    expect(routes(sent)).toEqual(['2001:db8:ffff::1/128']);
  });

  it('keeps IPv6 routes back when the router did not negotiate IPv6, and reports a missing next hop', () => {
    const t = setup();
    const errors: Error[] = [];
    t.session.on('error', (e) => errors.push(e));
    t.session.announce('2001:db8::5');
    t.session.announce('203.0.113.5');
    const sent = t.establish(routerOpen({ ipv6: false }));
    expect(routes(sent)).toEqual(['203.0.113.5/32']);
    expect(updates(sent).map(endOfRibFamily).filter(Boolean)).toEqual(['ipv4']);

    const v6 = setup();
    v6.session.on('error', (e) => errors.push(e));
    v6.session.announce('2001:db8::5');
    expect(routes(v6.establish())).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('no global IPv6 next hop')]);
  });

  it('re-advertises everything after a reconnect, followed by End-of-RIB', () => {
    const t = setup();
    for (let i = 0; i < 1000; i++) t.session.announce(`198.18.0.0/32`.replace('0.0/32', `${i >> 8}.${i & 0xff}/32`));
    const first = t.establish();
    expect(routes(first)).toHaveLength(1000);
    expect(updates(first).slice(-2).map(endOfRibFamily)).toEqual(['ipv4', 'ipv6']);
    t.last().close();
    expect(t.session.state).toBe('Idle');
    t.clock.advance(t.clock.nextDue()!);
    const again = t.establish();
    expect(routes(again)).toHaveLength(1000);
    expect(updates(again).slice(-2).map(endOfRibFamily)).toEqual(['ipv4', 'ipv6']);
  });

  it('re-sends the family asked for by a ROUTE-REFRESH', () => {
    const t = setup();
    t.session.announce('203.0.113.7');
    t.establish();
    t.last().receive({ type: 'route-refresh', afi: 1, subtype: 0, safi: 1 });
    expect(routes(t.last().take())).toEqual(['203.0.113.7/32']);
  });

  it('stop() sends pending withdrawals, then Cease/Administrative Shutdown with the reason, and does not reconnect', async () => {
    const t = setup();
    t.session.announce('203.0.113.8');
    t.establish();
    t.session.withdraw('203.0.113.8');
    await t.session.stop('maintenance: node drained');
    const sent = t.last().take();
    expect(updates(sent)[0].withdrawn.map(String)).toEqual(['203.0.113.8/32']);
    const n = notification(sent)!;
    expect(n).toMatchObject({ code: 6, subcode: 2 });
    expect(shutdownReason(n)).toBe('maintenance: node drained');
    expect(t.notifications).toContainEqual(expect.objectContaining({ direction: 'sent', code: 6, subcode: 2, reason: 'maintenance: node drained' }));
    expect(t.session.state).toBe('Idle');
    t.clock.advance(600_000);
    expect(t.sockets).toHaveLength(1);
  });

  it('stop({ gracefulRestart }) closes without NOTIFICATION so the router keeps our routes', async () => {
    const t = setup({ gracefulRestart: { restartTime: 120 } });
    t.session.announce('203.0.113.9');
    t.establish();
    await t.session.stop('upgrade', { gracefulRestart: true });
    expect(t.last().take()).toEqual([]);
    expect(t.last().destroyed).toBe(true);
  });

  it('reports a received shutdown communication and reconnects with back-off', () => {
    const t = setup();
    t.establish();
    t.last().receive({ type: 'notification', code: 6, subcode: 2, data: Buffer.from('\x05bye!!'.slice(0, 6)) });
    expect(t.notifications).toContainEqual(expect.objectContaining({ direction: 'received', code: 6, subcode: 2, reason: 'bye!!' }));
    expect(t.session.state).toBe('Idle');
    t.clock.advance(1000);
    expect(t.session.state).toBe('Connect');
  });
});

describe('BgpSession passive mode and collisions (RFC 4271 §6.8)', () => {
  it('passive: waits in Active and talks on the accepted connection', () => {
    const t = setup({ passive: true });
    t.session.start();
    expect(t.session.state).toBe('Active');
    expect(t.sockets).toHaveLength(0);
    const incoming = new FakeSocket();
    t.session.acceptIncoming(incoming);
    expect(t.session.state).toBe('OpenSent');
    expect(incoming.take()[0].type).toBe('open');
    incoming.receive(routerOpen());
    incoming.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
    incoming.close();
    expect(t.session.state).toBe('Idle');
    t.clock.advance(600_000);
    expect(t.session.state).toBe('Active');
    expect(t.sockets).toHaveLength(0);
  });

  it('keeps the router-initiated connection when the router has the higher identifier', () => {
    const t = setup({ routerId: '192.0.2.10' });
    t.session.start();
    const out = t.last();
    out.connect();
    out.take();
    const incoming = new FakeSocket();
    t.session.acceptIncoming(incoming);
    expect(incoming.take()[0].type).toBe('open');
    incoming.receive(routerOpen({ id: '192.0.2.200' }));
    expect(notification(out.take())).toMatchObject({ code: 6, subcode: 7 });
    expect(out.closed).toBe(true);
    expect(t.session.state).toBe('OpenConfirm');
    expect(incoming.take()).toEqual([{ type: 'keepalive' }]);
    incoming.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
  });

  it('keeps our connection when we have the higher identifier', () => {
    const t = setup({ routerId: '192.0.2.250' });
    t.session.start();
    const out = t.last();
    out.connect();
    const incoming = new FakeSocket();
    t.session.acceptIncoming(incoming);
    out.receive(routerOpen({ id: '192.0.2.200' }));
    expect(notification(incoming.take())).toMatchObject({ code: 6, subcode: 7 });
    expect(incoming.closed).toBe(true);
    expect(out.closed).toBe(false);
    expect(t.session.state).toBe('OpenConfirm');
    out.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
  });

  it('closes a new connection with 6/7 while Established', () => {
    const t = setup();
    t.establish();
    const incoming = new FakeSocket();
    t.session.acceptIncoming(incoming);
    expect(notification(incoming.take())).toMatchObject({ code: 6, subcode: 7 });
    expect(t.session.state).toBe('Established');
  });

  it('adopts an incoming connection while still connecting out', () => {
    const t = setup();
    t.session.start();
    const out = t.last();
    const incoming = new FakeSocket();
    t.session.acceptIncoming(incoming);
    expect(out.closed).toBe(true);
    expect(t.session.state).toBe('OpenSent');
    incoming.take();
    incoming.receive(routerOpen());
    incoming.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
  });
});

describe('BgpSession connect timeout', () => {
  it('gives up a connection attempt that never connects and retries with back-off', () => {
    const t = setup({ connectTimeoutMs: 5000 });
    t.session.start();
    t.clock.advance(4999);
    expect(t.session.state).toBe('Connect');
    t.clock.advance(1);
    expect(t.sockets[0].destroyed).toBe(true);
    expect(t.session.state).toBe('Active');
    t.clock.advance(1000);
    expect(t.sockets).toHaveLength(2);
    expect(t.session.state).toBe('Connect');
  });
});

describe('BgpSession capability-dependent encoding', () => {
  it('talks 2-octet AS to a router without the 4-octet capability (AS_TRANS + AS4_PATH)', () => {
    const t = setup({ localAs: 4200000001 });
    t.session.announce('203.0.113.20');
    t.session.start();
    const s = t.last();
    s.connect();
    s.take();
    s.receive(routerOpen({ fourByte: false }));
    s.receive({ type: 'keepalive' });
    expect(t.session.negotiation?.fourByteAs).toBe(false);
    const [u] = updates(s.take({ fourByteAs: false, maxMessageLength: 4096 }));
    expect(u.attributes.asPath).toEqual([{ type: 2, asns: [23456] }]);
    expect(u.attributes.as4Path).toEqual([{ type: 2, asns: [4200000001] }]);
  });

  it('packs up to 65535-byte UPDATEs when both sides offer extended messages', () => {
    const t = setup({ extendedMessages: true });
    for (let i = 0; i < 20000; i++) t.session.announce(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    const sent = updates(t.establish(routerOpen({ extra: [{ kind: 'extended-message' }] })));
    expect(t.session.negotiation?.extendedMessages).toBe(true);
    const withRoutes = sent.filter((u) => u.nlri.length > 0);
    expect(withRoutes).toHaveLength(2);
    expect(withRoutes[0].nlri.length).toBeGreaterThan(13000);

    const plain = setup({ extendedMessages: true });
    for (let i = 0; i < 20000; i++) plain.session.announce(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    expect(updates(plain.establish()).filter((u) => u.nlri.length > 0).length).toBe(Math.ceil(20000 / 812));
  });
});
