// The wire's rules beyond the codec (wire.ts): which version goes to which peer during an upgrade,
// and what is dropped (replays, downgrades, hostile bytes) with its reason, never thrown.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LivenessKey, MAX_LENGTH, seal, type Message } from '../../../protocols/liveness/message.js';
import { LivenessWire, REPLAY_WINDOW, STAMPS_PER_MS } from '../../../protocols/liveness/wire.js';

const SECRET = Buffer.from('the speakers shared secret');
const ping = (from: string, seq = 1): Message => ({ type: 'ping', seq, incarnation: 0, from, target: 'b', updates: [] });

function pair(opts: { aOld?: boolean; bOld?: boolean } = {}) {
  let now = 1_765_000_000_000;
  const wallNow = (): number => now;
  const a = new LivenessWire({ secret: SECRET, self: 'a', versions: opts.aOld ? [1] : undefined, wallNow });
  const b = new LivenessWire({ secret: SECRET, self: 'b', versions: opts.bOld ? [1] : undefined, wallNow });
  a.setPeer('b', opts.bOld ? 1 : 2);
  b.setPeer('a', opts.aOld ? 1 : 2);
  return { a, b, tick: (ms: number) => (now += ms) };
}

describe('liveness wire: versions and drops', () => {
  it('sends version 2 to a peer that advertises it, version 1 to one that does not, and answers in kind', () => {
    const { a, b } = pair({ aOld: true });
    expect(b.versionFor('a')).toBe(1);
    expect(a.versionFor('b')).toBe(1); // an old speaker sends nothing else
    const c = new LivenessWire({ secret: SECRET, self: 'c' });
    c.setPeer('b', 1); // c's view of b is stale (b's Lease before its upgrade)
    b.setPeer('c', 2);
    expect(c.versionFor('b')).toBe(1);
    const fromC = c.seal('b', ping('c'));
    expect(fromC[2]).toBe(1);
    expect(b.open(fromC).ok).toBe(true); // b just started: c has not spoken version 2 to it yet
    const reply = b.seal('c', { ...ping('b'), type: 'ack' });
    expect(reply[2]).toBe(2);
    expect(c.open(reply).ok).toBe(true);
    expect(c.versionFor('b')).toBe(2); // b spoke version 2: c answers in kind before seeing its Lease
  });

  it('an old speaker drops version 2 (it cannot read it); a new one reads both', () => {
    const { a, b } = pair({ aOld: true });
    const v2 = new LivenessWire({ secret: SECRET, self: 'x' });
    v2.setPeer('a', 2); // as if a's Lease advertised version 2 (it does not: a stale or forged view)
    expect(a.open(v2.seal('a', ping('x')))).toEqual({ ok: false, reason: 'BadVersion' });
    expect(b.open(a.seal('b', ping('a'))).ok).toBe(true);
  });

  it('drops a replayed version 2 datagram, accepts reordering within the window, drops older ones', () => {
    const { a, b, tick } = pair();
    const first = a.seal('b', ping('a', 1));
    tick(1);
    const second = a.seal('b', ping('a', 2));
    expect(b.open(second).ok).toBe(true);
    expect(b.open(first).ok).toBe(true); // reordered, within the window
    expect(b.open(first)).toEqual({ ok: false, reason: 'Replay' });
    expect(b.open(second)).toEqual({ ok: false, reason: 'Replay' });
    const late = a.seal('b', ping('a', 3));
    tick(Math.ceil((REPLAY_WINDOW + 1) / STAMPS_PER_MS));
    expect(b.open(a.seal('b', ping('a', 4))).ok).toBe(true);
    expect(b.open(late)).toEqual({ ok: false, reason: 'Replay' }); // older than the window: cannot tell
  });

  it('the replay window (two 32-bit words) accepts and refuses exactly as a 64-bit mask does (property)', () => {
    const key = new LivenessKey(SECRET);
    // The rule stated on a bigint: bit i says stamp highest - 1 - i was seen.
    const model = () => {
      let highest = -1;
      let mask = 0n;
      const full = (1n << 64n) - 1n;
      return (stamp: number): boolean => {
        if (highest < 0) {
          highest = stamp;
          return true;
        }
        if (stamp > highest) {
          const shift = stamp - highest;
          mask = shift > REPLAY_WINDOW ? 0n : ((mask << BigInt(shift)) | (1n << BigInt(shift - 1))) & full;
          highest = stamp;
          return true;
        }
        const back = highest - stamp;
        if (back === 0 || back > REPLAY_WINDOW) return false;
        const bit = 1n << BigInt(back - 1);
        if (mask & bit) return false;
        mask |= bit;
        return true;
      };
    };
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -70, max: 70 }), fc.constantFrom(-64, -63, -33, -32, -31, 31, 32, 33, 63, 64, 65)), { minLength: 1, maxLength: 120 }), (steps) => {
        const b = new LivenessWire({ secret: SECRET, self: 'b' });
        b.setPeer('a', 2);
        const accepts = model();
        let stamp = 1_000_000;
        for (const step of steps) {
          stamp = Math.max(0, stamp + step);
          const opened = b.open(seal({ version: 2, stamp, message: ping('a') }, key));
          expect(opened.ok ? 'ok' : opened.reason).toBe(accepts(stamp) ? 'ok' : 'Replay');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a restarted sender goes on being heard (its stamps start from its wall clock); its old datagrams stay refused', () => {
    const { a, b, tick } = pair();
    const recorded = a.seal('b', ping('a'));
    expect(b.open(recorded).ok).toBe(true);
    tick(2000);
    const restarted = new LivenessWire({ secret: SECRET, self: 'a', wallNow: () => 1_765_000_002_000 });
    restarted.setPeer('b', 2);
    expect(b.open(restarted.seal('b', ping('a'))).ok).toBe(true);
    expect(b.open(recorded)).toEqual({ ok: false, reason: 'Replay' });
    // The peer leaving and coming back (its Lease deleted, then created) keeps its replay state.
    b.removePeer('a');
    b.setPeer('a', 2);
    expect(b.open(recorded)).toEqual({ ok: false, reason: 'Replay' });
  });

  it('refuses version 1 from a peer that advertises version 2 and has spoken it (a recorded old datagram)', () => {
    const { a, b } = pair();
    const key = new LivenessKey(SECRET);
    const old = seal({ version: 1, stamp: 0, message: ping('a') }, key);
    expect(b.open(old).ok).toBe(true); // a has not spoken version 2 yet (b just started)
    expect(b.open(a.seal('b', ping('a'))).ok).toBe(true);
    expect(b.open(old)).toEqual({ ok: false, reason: 'Downgrade' });
    // a's Lease changes to no advertisement (a rollback to an old speaker): version 1 again.
    b.setPeer('a', 1);
    expect(b.open(old).ok).toBe(true);
    expect(b.versionFor('a')).toBe(1);
  });

  it('drops hostile bytes with a reason and never throws (fuzz)', () => {
    const { a, b } = pair();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_LENGTH + 20 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }), fc.boolean(), (bytes, edits, valid) => {
        const buf = valid ? Buffer.from(a.seal('b', ping('a'))) : Buffer.from(bytes);
        for (const [at, v] of edits) if (buf.length > 0) buf[at % buf.length] = v;
        const r = b.open(buf);
        if (!r.ok) expect(typeof r.reason).toBe('string');
      }),
      { numRuns: 2000 },
    );
    expect(b.open(Buffer.alloc(MAX_LENGTH + 1))).toEqual({ ok: false, reason: 'tooLong' });
  });

  it('version 3 to a peer that advertises it: nodes by their ids, a 40-byte ping whatever the names', () => {
    const long = (x: string): string => `${x}.rack-07.zone-a.dc1.k8s.example.com`.padEnd(63, 'x');
    const [a, b] = [long('a'), long('b')];
    const wa = new LivenessWire({ secret: SECRET, self: a });
    const wb = new LivenessWire({ secret: SECRET, self: b });
    wa.setPeer(b, 3);
    wb.setPeer(a, 3);
    const m: Message = { type: 'ping', seq: 1, incarnation: 0, from: a, target: b, updates: [] };
    const d = wa.seal(b, m);
    expect([d[2], d.length]).toEqual([3, 40]);
    expect(wb.open(d)).toEqual({ ok: true, datagram: { version: 3, stamp: expect.any(Number) as number, message: { ...m, target: '' } } });
    // A ping-req and a nack carry the target, and updates name nodes (ourselves included) by id: 9 bytes each.
    const req: Message = { type: 'pingReq', seq: 2, incarnation: 1, from: a, target: b, updates: [{ name: b, state: 'suspect', incarnation: 4 }, { name: a, state: 'alive', incarnation: 1 }] };
    const r = wa.seal(b, req);
    expect(r.length).toBe(40 + 5 + 2 * 10);
    expect(wb.open(r)).toMatchObject({ ok: true, datagram: { version: 3, message: req } });
  });

  it('version 2 to a peer before version 3 (its Lease says 2, or it spoke 2): each pair speaks the older of the two', () => {
    const v3 = new LivenessWire({ secret: SECRET, self: 'new' });
    const v2 = new LivenessWire({ secret: SECRET, self: 'old', versions: [1, 2] });
    v3.setPeer('old', 2);
    v2.setPeer('new', 3); // a Lease advertising 3, read by a speaker that reads 2 at most
    expect(v2.versionFor('new')).toBe(2);
    expect(v3.versionFor('old')).toBe(2);
    const fromOld = v2.seal('new', ping('old'));
    expect(fromOld[2]).toBe(2);
    expect(v3.open(fromOld).ok).toBe(true);
    // A version 3 datagram reaching a version 2 speaker (a forged or stale view) is dropped, not misread.
    const stray = new LivenessWire({ secret: SECRET, self: 'new' });
    stray.setPeer('old', 3);
    expect(v2.open(stray.seal('old', ping('new')))).toEqual({ ok: false, reason: 'BadVersion' });
    // A peer whose Lease we have not seen with an advertisement yet: answered in the version it spoke.
    const w = new LivenessWire({ secret: SECRET, self: 'w' });
    w.setPeer('new', 1);
    const n3 = new LivenessWire({ secret: SECRET, self: 'new' });
    n3.setPeer('w', 3);
    expect(w.open(n3.seal('w', ping('new'))).ok).toBe(true);
    expect(w.versionFor('new')).toBe(3);
    // Versions 2 and 3 share the sender's stamps: a recorded version 2 datagram is a replay afterwards.
    const recorded = v2.seal('new', ping('old', 9));
    expect(v3.open(recorded).ok).toBe(true);
    expect(v3.open(recorded)).toEqual({ ok: false, reason: 'Replay' });
  });

  it('version 3: an unknown sender id is dropped (UnknownId), an unknown target reads as none, unknown updates are skipped and counted', () => {
    const a = new LivenessWire({ secret: SECRET, self: 'a' });
    const b = new LivenessWire({ secret: SECRET, self: 'b' });
    a.setPeer('b', 3);
    a.setPeer('z', 3); // b has not seen z's Lease
    b.setPeer('a', 3);
    const r = b.open(a.seal('b', { type: 'pingReq', seq: 1, incarnation: 0, from: 'a', target: 'z', updates: [{ name: 'z', state: 'dead', incarnation: 1 }, { name: 'b', state: 'suspect', incarnation: 0 }] }));
    expect(r).toMatchObject({ ok: true, datagram: { message: { target: '', updates: [{ name: 'b', state: 'suspect', incarnation: 0 }] }, skipped: 1 } });
    expect(b.skippedUpdates).toBe(1);
    // From z (a node b does not know): dropped before anything in it is believed.
    const z = new LivenessWire({ secret: SECRET, self: 'z' });
    z.setPeer('b', 3);
    expect(b.open(z.seal('b', ping('z')))).toEqual({ ok: false, reason: 'UnknownId' });
    // Once b sees z's Lease, z is heard.
    b.setPeer('z', 3);
    expect(b.open(z.seal('b', ping('z', 2))).ok).toBe(true);
  });

  it('version 3: two members whose ids collide go by their names, both ways; the rest by ids', () => {
    // These two names collide under SECRET (found by a birthday search of node-<i>: about 2^16 tries).
    const [x, y] = ['node-98312', 'node-149968'];
    const wx = new LivenessWire({ secret: SECRET, self: x });
    const wb = new LivenessWire({ secret: SECRET, self: 'b' });
    wx.setPeer('b', 3);
    wb.setPeer(x, 3);
    expect(wx.seal('b', ping(x)).length).toBe(40); // no collision in either list yet
    wb.setPeer(y, 3); // b's list now holds both; x has not seen y's Lease
    expect(wb.idCollisions).toBe(2);
    expect(wb.open(wx.seal('b', ping(x, 2)))).toEqual({ ok: false, reason: 'UnknownId' }); // ambiguous, dropped and counted
    wx.setPeer(y, 3); // x sees y's Lease too: both sides name x and y by their names
    const d = wx.seal('b', { ...ping(x, 3), updates: [{ name: y, state: 'alive', incarnation: 0 }] });
    expect(d.length).toBe(18 + (1 + x.length) + 1 + (5 + 1 + y.length) + 16); // header, from, count, the update, MAC
    expect(wb.open(d)).toMatchObject({ ok: true, datagram: { version: 3, message: { from: x, updates: [{ name: y }] } } });
    // The other direction: b names x by its name, and b itself by its id.
    expect(wx.open(wb.seal(x, { ...ping('b'), updates: [{ name: x, state: 'suspect', incarnation: 0 }] }))).toMatchObject({ ok: true, datagram: { message: { from: 'b', updates: [{ name: x }] } } });
    // y leaves: x goes by its id again.
    wx.removePeer(y);
    wb.removePeer(y);
    expect(wb.idCollisions).toBe(0);
    expect(wx.seal('b', ping(x, 4)).length).toBe(40);
  });
});
