// Dynamic peer AS (MetalLB's dynamicASN): learned from the peer's OPEN, which must carry our AS
// (internal) or another one (external); otherwise OPEN Message Error / Bad Peer AS (2/2).
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { BgpSession, localOpen, negotiate, type BgpMessage, type NotificationMessage, type PeerAs, type SessionLogEvent, type UpdateMessage } from '../../../protocols/bgp/index.js';
import { sessionTtl } from '../../../protocols/bgp/transport.js';
import { FakeSocket, routerOpen } from './fake-socket.js';

function check(localAs: number, peerAs: PeerAs, open = routerOpen()) {
  return negotiate(open, { localAs, peerAs, localRouterId: 0x0a000001, holdTime: 90, ours: localOpen({ localAs, holdTime: 90, routerId: 0x0a000001 }) });
}

describe('negotiate with a dynamic peer AS', () => {
  it('internal: accepts our own AS (2- and 4-octet) and learns it; refuses another with 2/2', () => {
    expect(check(65001, 'internal', routerOpen({ as: 65001 })).peerAs).toBe(65001);
    expect(check(4200000001, 'internal', routerOpen({ as: 4200000001 })).peerAs).toBe(4200000001);
    expect(() => check(64512, 'internal', routerOpen({ as: 65001 }))).toThrow(expect.objectContaining({ code: 2, subcode: 2, message: expect.stringContaining('not our AS 64512') }));
    // A 2-octet speaker without the capability: its My AS is the AS.
    expect(check(65001, 'internal', routerOpen({ as: 65001, fourByte: false })).peerAs).toBe(65001);
  });

  it('external: accepts any other AS (incl. 4-octet via the capability) and learns it; refuses our own with 2/2', () => {
    expect(check(64512, 'external', routerOpen({ as: 65001 })).peerAs).toBe(65001);
    expect(check(64512, 'external', routerOpen({ as: 4200000001 })).peerAs).toBe(4200000001);
    expect(() => check(65001, 'external', routerOpen({ as: 65001 }))).toThrow(expect.objectContaining({ code: 2, subcode: 2, message: expect.stringContaining('our own AS') }));
  });

  it('the RFC 6793 / RFC 7607 checks still apply: AS 0 and a My AS that disagrees with the capability are 2/2', () => {
    expect(() => check(64512, 'external', routerOpen({ as: 0, fourByte: false }))).toThrow(expect.objectContaining({ code: 2, subcode: 2 }));
    const lying = { ...routerOpen({ as: 4200000001 }), myAs: 65001 };
    expect(() => check(64512, 'external', lying)).toThrow(expect.objectContaining({ code: 2, subcode: 2 }));
  });

  it('the TTL follows the relation the mode names: internal = system default, external = 1 (255 multihop)', () => {
    expect(sessionTtl(64512, 'internal', false)).toBeUndefined();
    expect(sessionTtl(64512, 'external', false)).toBe(1);
    expect(sessionTtl(64512, 'external', true)).toBe(255);
  });
});

function session(peerAs: PeerAs) {
  const sockets: FakeSocket[] = [];
  const logs: SessionLogEvent[] = [];
  const s = new BgpSession(
    { localAs: 64512, peerAs, peerAddress: '192.0.2.1', holdTime: 90 },
    {
      clock: new ManualClock(),
      connect: () => {
        const f = new FakeSocket();
        sockets.push(f);
        return f;
      },
      log: (e) => logs.push(e),
      random: () => 0.5,
    },
  );
  s.announce('203.0.113.10/32');
  s.start();
  sockets[0].connect();
  sockets[0].take();
  return { s, sock: sockets[0], logs };
}

const updateOf = (msgs: BgpMessage[]): UpdateMessage | undefined => msgs.find((m): m is UpdateMessage => m.type === 'update' && m.nlri.length > 0);

describe('a session with a dynamic peer AS', () => {
  it('internal: learns the AS, logs it, and announces as iBGP (no AS prepended, LOCAL_PREF 100)', () => {
    const t = session('internal');
    t.sock.receive(routerOpen({ as: 64512, id: '192.0.2.1' }));
    t.sock.receive({ type: 'keepalive' });
    expect(t.s.state).toBe('Established');
    expect(t.s.negotiation?.peerAs).toBe(64512);
    expect(t.logs.find((l) => l.event === 'peer-as-learned')).toMatchObject({ peerAs: 64512, dynamicAsn: 'internal' });
    const u = updateOf(t.sock.take());
    expect(u?.attributes.asPath).toEqual([]);
    expect(u?.attributes.localPref).toBe(100);
  });

  it('external: learns the AS and announces as eBGP (our AS prepended, no LOCAL_PREF)', () => {
    const t = session('external');
    t.sock.receive(routerOpen({ as: 65001 }));
    t.sock.receive({ type: 'keepalive' });
    expect(t.s.negotiation?.peerAs).toBe(65001);
    const u = updateOf(t.sock.take());
    expect(u?.attributes.asPath).toEqual([{ type: 2, asns: [64512] }]);
    expect(u?.attributes.localPref).toBeUndefined();
  });

  it('a mismatch is refused with NOTIFICATION 2/2 (Bad Peer AS) and the back-off', () => {
    for (const [mode, as] of [
      ['internal', 65001],
      ['external', 64512],
    ] as const) {
      const t = session(mode);
      t.sock.receive(routerOpen({ as }));
      const n = t.sock.take().find((m): m is NotificationMessage => m.type === 'notification');
      expect(n).toMatchObject({ code: 2, subcode: 2 });
      expect(t.s.state).toBe('Idle');
    }
  });
});
