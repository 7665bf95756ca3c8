// A hostile or broken peer against one session, on fake sockets and a manual clock: what the
// session holds (descriptors, queued bytes), how it backs off, and what it answers (RFC 6608,
// RFC 6793, RFC 7606, RFC 4486). Each case here failed before the hardening of issue 16.
import { describe, expect, it } from 'vitest';
import {
  BgpResources,
  BgpSession,
  toBuffer,
  type BgpMessage,
  type BgpSessionConfig,
  type NotificationMessage,
  type SessionLogEvent,
} from '../../../protocols/bgp/index.js';
import { fakeSession, FakeSocket, routerOpen } from './fake-socket.js';

function setup(cfg: Partial<BgpSessionConfig> = {}) {
  const resources = new BgpResources();
  const logs: SessionLogEvent[] = [];
  const { clock, sockets, session } = fakeSession(cfg, { resources, log: (e) => logs.push(e) });
  const sent: Array<{ direction: string; code: number; subcode: number }> = [];
  session.on('notification', (n) => sent.push(n));
  const last = (): FakeSocket => sockets[sockets.length - 1];
  const establish = (): FakeSocket => {
    if (session.state === 'Idle') session.start();
    const s = last();
    s.connect();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    expect(session.state).toBe('Established');
    s.take();
    return s;
  };
  /** An incoming connection (passive mode) brought to OpenSent. */
  const incoming = (): FakeSocket => {
    const s = new FakeSocket();
    session.acceptIncoming(s);
    return s;
  };
  return { clock, sockets, resources, logs, session, sent, last, establish, incoming };
}

const notification = (msgs: BgpMessage[]): NotificationMessage | undefined => msgs.find((m): m is NotificationMessage => m.type === 'notification');

/** A message with a valid header of `type` and an arbitrary (here: malformed) body. */
function raw(type: number, body: Buffer): Buffer {
  const b = Buffer.alloc(19 + body.length, 0xff);
  b.writeUInt16BE(b.length, 16);
  b[18] = type;
  body.copy(b, 19);
  return b;
}

describe('closed connections are destroyed after a grace period', () => {
  it('a peer that keeps its end open after our NOTIFICATION loses the connection after closeGraceMs (counted)', () => {
    const t = setup({ closeGraceMs: 1500 });
    t.session.start();
    const s = t.last();
    s.holdOpen = true;
    s.connect();
    s.receive(routerOpen({ as: 65099 })); // Bad Peer AS
    expect(notification(s.take())).toMatchObject({ code: 2, subcode: 2 });
    expect(s.ended).toBe(true);
    expect(s.destroyed).toBe(false);
    expect(t.resources.socketsOpen).toBe(1);
    t.clock.advance(1499);
    expect(s.destroyed).toBe(false);
    t.clock.advance(1);
    expect(s.destroyed).toBe(true);
    // Only the reconnect (after the 1 s back-off) is open.
    expect(t.resources.socketsOpen).toBe(t.sockets.filter((x) => !x.closed).length);
    expect(t.sockets.filter((x) => !x.closed)).toHaveLength(1);
    expect(t.resources.connectionsDestroyed).toBe(1);
  });

  it('300 bad-OPEN cycles leave no socket open once the grace has passed', () => {
    const t = setup({ passive: true, closeGraceMs: 1000, connectRetry: { minMs: 1, maxMs: 1 } });
    t.session.start();
    for (let i = 0; i < 300; i++) {
      const s = new FakeSocket();
      s.holdOpen = true;
      t.session.acceptIncoming(s);
      s.receive(routerOpen({ as: 65099 }));
      t.clock.advance(2);
    }
    expect(t.resources.socketsOpen).toBeLessThanOrEqual(300);
    t.clock.advance(1000);
    expect(t.resources.socketsOpen).toBe(0);
  });

  it('a peer that closes its end in time is not counted as destroyed', () => {
    const t = setup();
    const s = t.establish();
    s.receive({ type: 'notification', code: 6, subcode: 4, data: Buffer.alloc(0) });
    t.clock.advance(10_000);
    expect(t.resources.connectionsDestroyed).toBe(0);
    expect(s.closed).toBe(true);
    expect(t.resources.socketsOpen).toBe(t.sockets.filter((x) => !x.closed).length);
  });
});

describe('back-off between failed sessions (RFC 4271 §8.1.1 damping)', () => {
  it('refuses the peer connecting in during the back-off with Cease/Connection Rejected; the delay doubles; it resets only after a stable minute', () => {
    const t = setup({ passive: true });
    t.session.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const s = t.incoming();
      s.receive(routerOpen({ as: 65099 })); // a failed session
      expect(t.session.state).toBe('Idle');
      const early = t.incoming();
      expect(notification(early.take())).toMatchObject({ code: 6, subcode: 5 });
      expect(early.closed).toBe(true);
      const d = t.clock.nextDue()!;
      delays.push(d);
      t.clock.advance(d);
      expect(t.session.state).toBe('Active');
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000]);
    expect(t.resources.connectionsRefused.get('back-off')).toBe(4);
    // Established but dropped at once: the back-off keeps growing.
    let s = t.incoming();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
    s.close();
    expect(t.clock.nextDue()).toBe(16_000);
    t.clock.advance(16_000);
    // Established for a minute: forgotten.
    s = t.incoming();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    for (let i = 0; i < 3; i++) {
      t.clock.advance(20_000);
      s.receive({ type: 'keepalive' });
    }
    s.close();
    expect(t.clock.nextDue()).toBe(1000);
  });

  it('a connect-close cycle (TCP up, no OPEN) also backs off, active or passive', () => {
    for (const passive of [false, true]) {
      const t = setup({ passive });
      t.session.start();
      const s = passive ? t.incoming() : t.last();
      if (!passive) s.connect();
      s.close();
      const again = t.incoming();
      expect(notification(again.take())).toMatchObject({ code: 6, subcode: 5 });
    }
  });

  it('does not hold off a router connecting in while our own connects merely fail', () => {
    const t = setup();
    t.session.start();
    t.last().close(); // connection refused: no session failed
    const s = t.incoming();
    expect(t.session.state).toBe('OpenSent');
    expect(s.closed).toBe(false);
  });

  it('logs the refusals at a limited rate: one line, then one summary per minute', () => {
    const t = setup({ passive: true });
    t.session.start();
    t.incoming().receive(routerOpen({ as: 65099 }));
    for (let i = 0; i < 50; i++) t.incoming();
    const refusals = () => t.logs.filter((l) => l.event === 'incoming-rejected');
    expect(refusals()).toHaveLength(1);
    t.clock.advance(60_000);
    expect(refusals()).toHaveLength(2);
    expect(refusals()[1].msg).toContain('49 more');
    expect(t.resources.connectionsRefused.get('back-off')).toBe(50);
  });
});

describe('write back-pressure and the queued-bytes cap', () => {
  const table = (s: BgpSession, n: number) => {
    for (let i = 0; i < n; i++) s.announce(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
  };

  it('a never-reading peer flooding ROUTE-REFRESH gets one coalesced answer once the socket drains; queued bytes stay at one table', () => {
    const t = setup();
    table(t.session, 2000);
    const s = t.establish();
    s.stalled = true;
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      s.receive({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 });
      max = Math.max(max, t.session.queuedBytes);
    }
    const oneTable = max;
    expect(oneTable).toBeGreaterThan(2000 * 5);
    expect(oneTable).toBeLessThan(2000 * 5 + 4096);
    expect(t.session.state).toBe('Established');
    s.drainAll();
    const answered = s.take().filter((m) => m.type === 'update');
    // The first refresh's table (written before the stall showed) and exactly one more for all the rest.
    const prefixes = answered.reduce((n, m) => n + (m.type === 'update' ? m.nlri.length : 0), 0);
    expect(prefixes).toBe(4000);
  });

  it('route changes wait while the socket holds data, then go out once, coalesced', () => {
    const t = setup({ coalesceMs: 1 });
    const s = t.establish();
    s.stalled = true;
    s.writableLength = 1; // earlier output still queued
    for (let i = 0; i < 100; i++) {
      t.session.announce('203.0.113.7/32');
      t.session.withdraw('203.0.113.7/32');
      t.clock.advance(1);
    }
    t.session.announce('203.0.113.8/32');
    t.clock.advance(1);
    s.drainAll();
    t.clock.advance(1);
    const nlri = s.take().flatMap((m) => (m.type === 'update' ? m.nlri.map(String) : []));
    expect(nlri).toEqual(['203.0.113.8/32']);
  });

  it('over the cap: Cease/Out of Resources (6/8), socket destroyed, counted, back-off', () => {
    const t = setup({ maxQueuedBytes: 8 * 1024 });
    table(t.session, 4000); // ~20 kB of UPDATEs
    const s = t.establish();
    s.stalled = true;
    s.receive({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 });
    expect(t.sent).toContainEqual(expect.objectContaining({ direction: 'sent', code: 6, subcode: 8 }));
    expect(s.destroyed).toBe(true);
    expect(t.session.queuedBytes).toBe(0);
    expect(t.session.state).toBe('Idle');
    expect(t.resources.sessionsOutOfResources.get('192.0.2.1')).toBe(1);
    expect(t.logs.some((l) => l.event === 'out-of-resources')).toBe(true);
    t.clock.advance(1000);
    expect(t.session.state).toBe('Connect');
  });
});

describe('RFC 6608: unexpected messages are FSM errors, even malformed ones', () => {
  const garbage = Buffer.from([0, 0, 0, 9, 1, 2, 3, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe]);
  const cases: Array<[string, 'OpenSent' | 'OpenConfirm' | 'Established', Buffer, number]> = [
    ['a malformed UPDATE in OpenSent', 'OpenSent', raw(2, garbage), 1],
    ['a KEEPALIVE in OpenSent', 'OpenSent', toBuffer({ type: 'keepalive' }), 1],
    ['a ROUTE-REFRESH in OpenSent', 'OpenSent', toBuffer({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 }), 1],
    ['a malformed UPDATE in OpenConfirm', 'OpenConfirm', raw(2, garbage), 2],
    ['a malformed OPEN in OpenConfirm', 'OpenConfirm', raw(1, garbage), 2],
    ['a ROUTE-REFRESH in OpenConfirm', 'OpenConfirm', toBuffer({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 }), 2],
    ['a malformed OPEN in Established', 'Established', raw(1, garbage), 3],
  ];
  for (const [name, state, bytes, subcode] of cases) {
    it(`${name}: 5/${subcode}`, () => {
      const t = setup();
      t.session.start();
      const s = t.last();
      s.connect();
      if (state !== 'OpenSent') s.receive(routerOpen());
      if (state === 'Established') s.receive({ type: 'keepalive' });
      expect(t.session.state).toBe(state);
      s.take();
      s.receive(bytes);
      expect(notification(s.take())).toMatchObject({ code: 5, subcode });
      expect(t.session.state).toBe('Idle');
    });
  }
});

describe('RFC 6793: My AS must agree with the 4-octet AS capability', () => {
  const open = (myAs: number, capAs: number) => {
    const o = routerOpen({ as: capAs });
    return { ...o, myAs };
  };
  const cases: Array<[string, number, number, number]> = [
    ['a 4-octet ASN with My AS not AS_TRANS', 65001, 4_200_000_000, 4_200_000_000],
    ['a 2-octet ASN with My AS AS_TRANS', 23456, 65001, 65001],
    ['a 2-octet ASN with another My AS', 65002, 65001, 65001],
    ['the capability carrying AS_TRANS', 23456, 23456, 23456],
    ['AS 0', 0, 0, 0],
  ];
  for (const [name, myAs, capAs, peerAs] of cases) {
    it(`${name}: Bad Peer AS (2/2)`, () => {
      const t = setup({ peerAs });
      t.session.start();
      const s = t.last();
      s.connect();
      s.take();
      s.receive(open(myAs, capAs));
      expect(notification(s.take())).toMatchObject({ code: 2, subcode: 2 });
    });
  }

  it('accepts a 4-octet ASN behind AS_TRANS', () => {
    const t = setup({ peerAs: 4_200_000_000 });
    t.session.start();
    const s = t.last();
    s.connect();
    s.receive(open(23456, 4_200_000_000));
    expect(t.session.state).toBe('OpenConfirm');
  });
});

describe('RFC 7606 handling is logged with the attribute type, at a limited rate', () => {
  it('100 UPDATEs with an invalid ORIGIN: one warn line naming type 1, a summary of the other 99', () => {
    const t = setup();
    const s = t.establish();
    const bad = Buffer.from('ffffffffffffffffffffffffffffffff0000020000000e40010105400200400304c000020120cb00710a', 'hex');
    bad.writeUInt16BE(bad.length, 16);
    for (let i = 0; i < 100; i++) s.receive(bad);
    expect(t.session.state).toBe('Established');
    const lines = () => t.logs.filter((l) => l.event === 'update-treat-as-withdraw');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ level: 'warn', attributeType: 1 });
    t.clock.advance(60_000);
    expect(lines()).toHaveLength(2);
    expect(lines()[1].msg).toContain('99 more');
  });
});

describe('every NOTIFICATION class received', () => {
  for (const code of [1, 2, 3, 4, 5, 6, 7, 8, 0, 255]) {
    for (const state of ['OpenSent', 'OpenConfirm', 'Established'] as const) {
      it(`code ${code} in ${state}: no answer, connection closed, Idle, back-off`, () => {
        const t = setup();
        t.session.start();
        const s = t.last();
        s.connect();
        if (state !== 'OpenSent') s.receive(routerOpen());
        if (state === 'Established') s.receive({ type: 'keepalive' });
        s.take();
        s.receive({ type: 'notification', code, subcode: 1, data: Buffer.from('x') });
        expect(s.take()).toEqual([]);
        expect(s.closed).toBe(true);
        expect(t.session.state).toBe('Idle');
        expect(t.clock.nextDue()).toBeGreaterThanOrEqual(1000);
        expect(t.incoming().closed).toBe(true);
      });
    }
  }
});
