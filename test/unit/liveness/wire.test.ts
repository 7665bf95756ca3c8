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
  const a = new LivenessWire({ secret: SECRET, versions: opts.aOld ? [1] : undefined, wallNow });
  const b = new LivenessWire({ secret: SECRET, versions: opts.bOld ? [1] : undefined, wallNow });
  a.setPeer('b', opts.bOld ? 1 : 2);
  b.setPeer('a', opts.aOld ? 1 : 2);
  return { a, b, tick: (ms: number) => (now += ms) };
}

describe('liveness wire: versions and drops', () => {
  it('sends version 2 to a peer that advertises it, version 1 to one that does not, and answers in kind', () => {
    const { a, b } = pair({ aOld: true });
    expect(b.versionFor('a')).toBe(1);
    expect(a.versionFor('b')).toBe(1); // an old speaker sends nothing else
    const c = new LivenessWire({ secret: SECRET });
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
    const v2 = new LivenessWire({ secret: SECRET });
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

  it('a restarted sender goes on being heard (its stamps start from its wall clock); its old datagrams stay refused', () => {
    const { a, b, tick } = pair();
    const recorded = a.seal('b', ping('a'));
    expect(b.open(recorded).ok).toBe(true);
    tick(2000);
    const restarted = new LivenessWire({ secret: SECRET, wallNow: () => 1_765_000_002_000 });
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
});
