// The session's flush path from the Adj-RIB-Out (drain -> encoder -> socket slices): every route
// arrives once with its attributes, big flushes are written in slices as they are encoded, and
// memory handed to the socket is never written again.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { BgpSession, endOfRibFamily, type UpdateMessage } from '../../../protocols/bgp/index.js';
import { FakeSocket, routerOpen } from './fake-socket.js';

/** A FakeSocket that also keeps every buffer it was given, and a copy of its bytes at write time. */
class RecordingSocket extends FakeSocket {
  readonly given: Array<{ view: Uint8Array; copy: Buffer }> = [];
  override write(data: Uint8Array): boolean {
    this.given.push({ view: data, copy: Buffer.from(data) });
    return super.write(data);
  }
}

function established(): { session: BgpSession; socket: RecordingSocket; clock: ManualClock } {
  const clock = new ManualClock();
  let socket: RecordingSocket | undefined;
  const session = new BgpSession({ localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1', holdTime: 90 }, { clock, connect: () => (socket = new RecordingSocket()), random: () => 0.5 });
  return { session, clock, get socket(): RecordingSocket {
    if (!socket) throw new Error('not connected');
    return socket;
  } };
}

const v4 = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255}`;

describe('session flush from the Adj-RIB-Out', () => {
  it('sends 20k routes of three classes and two families once each, in slices, never rewriting what the socket holds', () => {
    const t = established();
    const a = { med: 7 };
    const b = { med: 7, communities: [0xfde80064] };
    // The session runs over IPv4 here: IPv6 routes need their own global next hop.
    const c6 = { med: 8, nextHop: '2001:db8::10' };
    const expected = new Map<string, number | undefined>();
    for (let i = 0; i < 20_000; i++) {
      const attrs = i % 10 === 0 ? a : i % 10 === 1 ? b : undefined;
      t.session.announce(v4(i), attrs);
      expected.set(`${v4(i)}/32`, attrs?.med);
    }
    t.session.announce('198.51.100.0/24', a);
    expected.set('198.51.100.0/24', 7);
    for (let i = 1; i <= 50; i++) {
      t.session.announce(`2001:db8::${i.toString(16)}`, c6);
      expected.set(`2001:db8::${i.toString(16)}/128`, 8);
    }
    t.session.start();
    const s = t.socket;
    s.connect();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    expect(t.session.state).toBe('Established');
    const msgs = s.take().filter((m): m is UpdateMessage => m.type === 'update');
    const seen = new Map<string, number | undefined>();
    for (const u of msgs) {
      if (endOfRibFamily(u) !== undefined) continue;
      for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) {
        expect(seen.has(p.toString())).toBe(false);
        seen.set(p.toString(), u.attributes.med);
      }
    }
    const diff = [...expected].filter(([k, v]) => seen.get(k) !== v || !seen.has(k));
    expect(diff).toEqual([]);
    expect(seen.size).toBe(expected.size);
    // ~100 kB of UPDATEs: written as several slices, none much above the batch size.
    const big = s.given.filter((g) => g.view.length > 1000);
    expect(big.length).toBeGreaterThan(2);
    for (const g of big) expect(g.view.length).toBeLessThanOrEqual(32 * 1024 + 4096);
    for (const g of s.given) expect(Buffer.from(g.view).equals(g.copy)).toBe(true);

    // Withdraw most, change some: withdrawals first, then the changed class; held memory untouched.
    for (let i = 0; i < 15_000; i++) t.session.withdraw(v4(i));
    t.session.announce(v4(19_999), a);
    t.clock.advance(10);
    const after = s.take().filter((m): m is UpdateMessage => m.type === 'update');
    const withdrawn = after.flatMap((u) => u.withdrawn.map(String));
    expect(withdrawn).toHaveLength(15_000);
    expect(new Set(withdrawn)).toEqual(new Set(Array.from({ length: 15_000 }, (_, i) => `${v4(i)}/32`)));
    expect(after.flatMap((u) => u.nlri.map(String))).toEqual([`${v4(19_999)}/32`]);
    expect(after.findIndex((u) => u.nlri.length > 0)).toBe(after.length - 1);
    for (const g of s.given) expect(Buffer.from(g.view).equals(g.copy)).toBe(true);
  });
});
